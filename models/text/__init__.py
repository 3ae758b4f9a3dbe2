"""Text model: a PyTorch transformer classifier of short texts (messages, job posts, profiles)."""
