"""A skin drafted from the video itself: find a static overlay no library skin explains and propose its controls.

An overlay is a picture composited on top of the game: its pixels stay put while the game moves,
and a few patches of it (the controls) switch between a rest look and a pressed look. From
`frames` frames of a video (read through padflow.video):

1. Rest look: the per-pixel temporal median. A pixel *differs* in a frame when one of its
   channels is more than `tolerance` away from it.
2. Control regions: pixels that differ in some frames but not most of them, linked to a
   4-neighbour when the two differ in nearly the same frames (Jaccard index of their "differs"
   series >= `link`); the connected groups are candidate regions. A *button* is a group whose
   pixels differ together (coherence: the share of a pixel's differing frames in which most of
   its group differs too); a moving game sprite over a still background also makes groups, but
   its pixels differ at shifted times, so its coherence is low. A *stick* is a group (or several
   touching ones) whose differing pixels move around a centre: the spot the cap covers at rest
   differs in most of its active frames (the well shows through), and the centroid of the other
   differing pixels traces a 2-D path around it.
3. The overlay box: the controls' bounding box grown over the overlay's body — pixels that stay
   put (differ in at most 1 - `stable_share` of frames) and do not look like the backdrop around
   the controls (the dominant still colours just outside the grown box: black bars, a still game
   background) — until it stops growing.
4. The draft: the rest look cropped to the box is the static layer (stick caps cut out and the
   empty well filled from frames where the cap was elsewhere); each button's idle sprite is its
   rest crop and its pressed sprite the median look of its region in the frames where it
   differs; each stick's cap sprite is the rest look of the cap spot, its travel the 95th
   percentile of the observed excursion. Regions are numbered left to right, top to bottom; a
   contact sheet shows the numbers for the user, who names regions in a small JSON mapping
   (`{"3": "SOUTH", "7": "LEFT_STICK"}`) that `named_skin` applies (unnamed regions are dropped).

Only controls that moved in the analysed frames are found; a button never pressed there is part
of the static picture and stays unobserved.
"""

from padflow.overlay.draft.analysis import draft_from_frames, draft_skin, read_frames
from padflow.overlay.draft.model import Draft, DraftSettings, Region
from padflow.overlay.draft.writing import contact_sheet, named_layers, named_skin, read_names, write_draft

__all__ = [
    "Draft",
    "DraftSettings",
    "Region",
    "contact_sheet",
    "draft_from_frames",
    "draft_skin",
    "named_layers",
    "named_skin",
    "read_frames",
    "read_names",
    "write_draft",
]
