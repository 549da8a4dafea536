"""The overlay parser, split as LeRobot splits a policy.

    configuration.py   ParserConfig (sizes)
    modeling.py        OverlayParser, the torch module; parser_loss; save_parser / load_parser
    processor.py       ParserBatch → tensors, stick grid targets, outputs → actions + confidence
    training.py        the LightningModule and the render-set data that train it (training)

Importing the package loads the first three; training.py (Lightning) is imported by name where
training happens.
"""

from models.overlay_parser.configuration import DECODE_STRIDE, ParserConfig
from models.overlay_parser.modeling import (
    CONFIG_FILE,
    PARSER_FORMAT,
    SAVED_PARSER,
    WEIGHTS_FILE,
    OverlayParser,
    box_masks,
    load_parser,
    parser_loss,
    save_parser,
    with_rest_comparison,
)
from models.overlay_parser.processor import (
    PRESS_THRESHOLD,
    STICK_SLICES,
    ParserReading,
    as_tensors,
    decode_outputs,
    decode_sticks,
    stick_grid_position,
    stick_targets,
)

__all__ = [
    "CONFIG_FILE", "DECODE_STRIDE", "PARSER_FORMAT", "PRESS_THRESHOLD", "SAVED_PARSER", "STICK_SLICES", "WEIGHTS_FILE",
    "OverlayParser", "ParserConfig", "ParserReading", "as_tensors", "box_masks", "decode_outputs", "decode_sticks",
    "load_parser", "parser_loss", "save_parser", "stick_grid_position", "stick_targets", "with_rest_comparison",
]
