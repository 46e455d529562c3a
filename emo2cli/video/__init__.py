"""Stage 2: hands + portrait + audio → video (DESIGN §4).

Components (diffusers models, each saved with config + safetensors): ``guidance``
(MotionGuidanceEncoder: hand maps + partial body map → a residual after ``conv_in``),
``audio_attention`` (AudioProjection: audio tokens, the learned null text context, the decoupled
audio cross-attention layers), ``reference`` (ReferenceNet writer/reader attention processors),
``denoiser`` (UNetMotionModel.from_unet2d + motion adapter; motion-norm and position options);
``attention`` holds the processor plumbing they share, ``body`` the partial body map.

Running: ``pipeline`` (EMO2VideoPipeline, clip by clip), ``loading`` (checkpoint references →
a pipeline; ``builtin`` random sets for ``--preset tiny``), ``preview`` (the weight-free labelled
preview), ``generate`` (every stage of ``emo2 gen-video``), ``bench`` (``emo2 bench video``).
Importing this package does not import torch.
"""
