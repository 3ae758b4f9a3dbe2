"""The investigation agent, part two: investigations that pivot through the entity graph.

``graph`` builds each case's bounded pivot graph as of the case's time (shared devices, IPs and
payment instruments, ``features.graph.identifier_links``, hubs left out); ``env`` is the decision
process over the case's evidence groups plus "expand identifier" / "review linked account", with a
decision that may block the linked accounts found too; ``belief`` is P(scam) for the case and the
reviewed accounts over the revealed subgraph; ``planners`` holds the baselines (gather-everything
within the bound, a fixed order, greedy one-step value of information) and the exact solution of
the belief's model (expectimax over the pivot tree) with a hindsight bound; ``evaluate`` plays
them side by side.
"""
