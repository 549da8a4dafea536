"""The inverse dynamics model (IDM), split as models/policy is.

    configuration.py   IdmConfig (sizes and input)
    modeling.py        InverseDynamicsModel, its loss; save_idm / load_idm (models/io.py)
    processor.py       video → masked, cropped frames → windows; a whole video's labels
    data.py            the gate's chunk index → labelled windows (training)
    training.py        the LightningModule that trains it (training)

Importing the package loads the first three; data.py and training.py (Lightning) are imported by
name where training happens.
"""

from models.idm.configuration import IdmConfig
from models.idm.modeling import IDM_FORMAT, SAVED_IDM, InverseDynamicsModel, idm_loss, load_idm, save_idm
from models.idm.processor import decode_video, label_starts, label_video, lit_box, to_windows, window_indices

__all__ = [
    "IDM_FORMAT", "SAVED_IDM", "IdmConfig", "InverseDynamicsModel", "decode_video", "idm_loss", "label_starts",
    "label_video", "lit_box", "load_idm", "save_idm", "to_windows", "window_indices",
]
