"""Hand tracking from video: real hand motion from any talking video (``emo2 track-hands``).

- :mod:`~emo2cli.tracking.landmarks`: per-frame pose and hand landmarks from mediapipe 0.10.14
  (the ``[vision]`` extra), streamed; left/right from the nearest pose wrist.
- :mod:`~emo2cli.tracking.body`: the body frame (DESIGN §2) from the pose world landmarks.
- :mod:`~emo2cli.tracking.ik`: 21 hand landmarks → ``global_orient`` + 15 ``hand_pose`` rotations
  of the built-in skeleton, with the reconstruction error.
- :mod:`~emo2cli.tracking.temporal`: dropout filling, masking and smoothing over time.
- :mod:`~emo2cli.tracking.track`: the whole tracker (``track_video``) and the command's job
  (``track_hands_file``: hands + audio features + optional overlay).
- :mod:`~emo2cli.tracking.overlay`: landmarks and the re-rendered hand drawn over the video.
- :mod:`~emo2cli.tracking.control`: hand-control metrics of a generated video against its
  driving hands (``emo2 evaluate video --hands``).

Importing this package imports nothing heavy (no mediapipe, no torch).
"""
