"""The flow-matching policy, split as LeRobot splits a policy.

    configuration.py   PolicyConfig (sizes), policy_profile (a named size of params.yaml)
    modeling.py        FlowMatchingPolicy, the torch module; save_policy / load_policy
    flow_matching.py   the objective and the Euler sampler as small functions
    processor.py       frame → model input, augmentation, unified actions ↔ model space
    data.py            the gate's chunk index → frame cache → datasets (training)
    training.py        the LightningModule that trains it (training)
    finetune.py        start from a saved policy, freeze parts or add LoRA (peft) (training)
    release.py         the released NitroGen checkpoint's layout ↔ padflow's
    safe_pickle.py     reads a pickled checkpoint without executing it

Importing the package loads the first four; the others are imported by name where they are used.
"""

from models.policy.configuration import VISION_ARCHS, PolicyConfig, policy_profile
from models.policy.flow_matching import euler_sample, flow_loss, interpolate, sample_time, target_velocity
from models.policy.modeling import (
    CONFIG_FILE,
    POLICY_FORMAT,
    SAVED_POLICY,
    WEIGHTS_FILE,
    FlowMatchingPolicy,
    ImageContext,
    build_meta_policy,
    load_policy,
    parameter_counts,
    save_policy,
)
from models.policy.processor import (
    MASK_POLICIES,
    Augmentation,
    actions_to_model,
    augment,
    crop_mask_resize,
    model_to_actions,
    prepare_frames,
    to_model_input,
    training_mask_boxes,
)

__all__ = [
    "CONFIG_FILE", "MASK_POLICIES", "POLICY_FORMAT", "SAVED_POLICY", "VISION_ARCHS", "WEIGHTS_FILE", "Augmentation",
    "FlowMatchingPolicy", "ImageContext", "PolicyConfig", "actions_to_model", "augment", "build_meta_policy",
    "crop_mask_resize", "euler_sample", "flow_loss", "interpolate", "load_policy", "model_to_actions",
    "parameter_counts", "policy_profile", "prepare_frames", "sample_time", "save_policy", "target_velocity",
    "to_model_input", "training_mask_boxes",
]
