"""Evaluation metrics (``emo2 evaluate``), one module per family (DESIGN §7, §11).

- :mod:`~emo2cli.metrics.frechet`: the one Fréchet distance every distribution metric uses.
- :mod:`~emo2cli.metrics.hands`: DIV, BA, PCK, FGD / FGD-kin on hand motion (42 FK joints).
- :mod:`~emo2cli.metrics.fgd_encoder`: the motion autoencoder FGD reads, trained by ``emo2 train-fgd``.
- :mod:`~emo2cli.metrics.image`: PSNR, SSIM, FID (:mod:`~emo2cli.metrics.inception` holds the network).
- :mod:`~emo2cli.metrics.video`: FVD (:mod:`~emo2cli.metrics.i3d` holds the network).
- :mod:`~emo2cli.metrics.face`: CSIM (face-identity cosine), EFID-mesh.
- :mod:`~emo2cli.metrics.hand_video`: HKC, HKV from a hand detector on video frames.
- :mod:`~emo2cli.metrics.sync`: Sync-C / Sync-D with a user-supplied SyncNet.
- hand control (HCE-2D, HC-PCK, HCE-angle, HC-detect) lives with the tracker that measures it,
  :mod:`~emo2cli.tracking.control`.
- :mod:`~emo2cli.metrics.report`: the registry, result rows, "unavailable: needs X" rows, weights
  lookup, and the table / JSON / CSV / plot outputs.
- :mod:`~emo2cli.metrics.evaluation`: the two runners (``evaluate_hands``, ``evaluate_video``).
- :mod:`~emo2cli.metrics.checkpoints`: safe state-dict loading for the metric networks.

Importing this package imports nothing heavy (no torch, no mediapipe).
"""
