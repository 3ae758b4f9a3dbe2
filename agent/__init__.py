"""Investigation agent: plans which evidence to gather before the scorer decides.

Modules, in the order a decision flows through them:

* ``groups``   evidence groups, their columns (one explicit table) and costs;
* ``env``      the decision process: reveal a group or allow / block / escalate; decision losses
               from the one cost model (``scamguard.costs``);
* ``data``     the training table as cases per split, with ``similar_*`` features;
* ``index``    FAISS search over the revealed groups only; the ``similar_cases`` features;
* ``belief``   P(scam | revealed groups) for any mask (LightGBM with random masking, Platt);
* ``planner``  completions of unrevealed values from the nearest training cases, per class;
* ``network``  the policy / value network (PyTorch);
* ``mcts``     the search (PUCT, chance nodes over posterior bins, batched leaf evaluation);
* ``policy``   the MCTS policy; ``baselines``: gather-everything, fixed order, greedy VOI;
* ``episode``  playing one case; ``evaluate``: policies side by side; ``expert``: expert iteration;
* ``train``    ``agent-train`` (MLflow); ``bundle``: the saved agent; ``trail``: the analyst view;
* ``cli``      the ``agent-train`` / ``agent-eval`` commands.
"""
