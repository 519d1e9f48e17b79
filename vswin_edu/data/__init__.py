"""Video data (paper Sec. 4.1 "Implementation details"; chapters 0, 11, 12).

    synthetic   MovingShapes: tiny clips whose classes differ only in the order of their frames
    sampling    training clips, test-time views (clips x crops), averaged scores, seeded generators
    video_io    PyAV decoding / encoding (or only the sampled frames, optionally with TorchCodec) and
                VideoFolder, one folder of video files per class

Every public name of the three modules is re-exported here, so ``from vswin_edu.data import
MovingShapes, sample_clip_indices, multi_view_indices, average_scores`` works as before.
"""

from .sampling import (
    average_scores,
    crop_corners,
    multi_view,
    multi_view_indices,
    sample_clip_indices,
    seeded_generator,
    spatial_crops,
)
from .synthetic import SHAPE_CLASSES, MovingShapes
from .video_io import (
    BACKENDS,
    VIDEO_EXTENSIONS,
    VideoFolder,
    count_frames,
    read_frames,
    read_video,
    write_video,
    write_video_folder,
)

__all__ = [
    "SHAPE_CLASSES",
    "seeded_generator",
    "MovingShapes",
    "sample_clip_indices",
    "multi_view_indices",
    "spatial_crops",
    "crop_corners",
    "multi_view",
    "average_scores",
    "read_video",
    "write_video",
    "write_video_folder",
    "count_frames",
    "read_frames",
    "BACKENDS",
    "VIDEO_EXTENSIONS",
    "VideoFolder",
]
