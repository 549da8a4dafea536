"""Find the controller overlay in a video: which skin, and the template→frame affine transform.

Frames are sampled evenly across the whole video (`sample`); local features (SIFT, or ORB) of
every frame are matched against the features of every skin in the library, computed once per
library and kept in memory (`index`). Each skin's templates are described over two backgrounds
and at several sizes, so features of a small overlay are compared with features taken at a
similar size.

The overlay does not move during a video, so the correspondences of all sampled frames are
pooled per skin and one RANSAC fit finds the transform they agree on (`match`). Evidence is the
pooled inlier count (`min_inliers`, NitroGen's 20) *and* the number of distinct template
locations among the inliers (`min_locations`): a static game element that resembles one
template feature is matched in every frame, but counts once. Matches that are not upright or
imply an implausible overlay size are dropped before RANSAC, which keeps videos without an
overlay from reaching the thresholds by chance. The transform is a similarity by default (4
degrees of freedom fit small, noisy overlays more stably), a full affine by a config switch.

Look-alike skins (one family's colourings, or other families' similar outlines) are told apart
by their rest colours against the median of the sampled frames (`colour`). When no fit passes,
the poses most single matches vote for are checked by guided matching (`rescue`). Small
overlays are refined in an upscaled crop (`refine`). `pipeline` runs these steps in order.

The found skin is then checked (`verify`): composited over the game it covers (filled in from
around the box), at rest, pressed or with a stick pushed, it must explain what the frames show in
every control region (`min_skin_agreement`), and clearly better than any other skin fitted there
(`min_skin_margin`) unless it explains them very well (`skin_agreement_alone`);
an overlay no library skin explains is recorded `unknown_skin` at its box, with the reason, and is
not read with a look-alike's layout.

"No overlay" is an ordinary outcome (`Localization.found` is False, `reason` says why); a video
that cannot be read, or a template that cannot be localized at all, raises ValueError.
"""

from padflow.overlay.localize.config import LOCALIZE_VERSION, LocalizeConfig
from padflow.overlay.localize.index import Features, TemplateIndex, build_index, detect, make_detector, template_index, template_views
from padflow.overlay.localize.pipeline import localize_frames, localize_overlay
from padflow.overlay.localize.result import Localization
from padflow.overlay.localize.sample import sample_frames, spread_order

__all__ = [
    "LOCALIZE_VERSION",
    "Features",
    "Localization",
    "LocalizeConfig",
    "TemplateIndex",
    "build_index",
    "detect",
    "localize_frames",
    "localize_overlay",
    "make_detector",
    "sample_frames",
    "spread_order",
    "template_index",
    "template_views",
]
