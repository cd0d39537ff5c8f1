"""Horizontal federated learning: same features, different users; an aggregator and N workers.

Framework-neutral: a model is a ``dict[str, np.ndarray]`` of named weights, local training is a callback
(:class:`~unseen.horizontal.worker.LocalTrainer`) that a framework adapter provides. The aggregator (the job's
arbiter, the "parameter server") learns only sums of the workers' contributions when secure aggregation is on
(``secagg``), and only a noised sum when DP is on too (``dp``). See ``docs/horizontal.md``.

Nothing here imports storage, gRPC or protobuf: algorithms see a ``Context`` and arrays.
"""
