"""Is the named skin really the overlay's skin? Named, unknown_skin, or which of its twins.

Features find *where* an overlay is and which library skin fits it best; they do not say that
the best fit is the drawn skin. An overlay whose skin is not in the library is fitted by the
nearest look-alike (a skin of the same family shares its geometry up to a few px), and reading it
with that layout gives a wrong table. So the chosen skin is checked as a picture composited over
the game: its agreement with the frames (padflow.overlay.localize.agreement, 1 = explained exactly).
The found skin is named when it reaches `min_skin_agreement` and either leads every other skin whose fit puts the overlay
at the same place by `min_skin_margin` (a true skin stands clearly above its family's other
colourings; an unknown skin's nearest look-alikes score close together), or explains the overlay
to `skin_agreement_alone` while leading them (two library colourings of one family can both
explain a small faint overlay well; no skin outside the library reached that on the tune set).
Otherwise the video is unknown_skin at the box. The thresholds and what they measure:
docs/benchmarks.md (bench/unknown_skin.py, bench/localization.py).

A skin the user declares (the ingest manifest's `skin`: a streamer uses one overlay across their
videos): the margin guards against skins outside the library, which the declaration rules out. So
where the rule above names no skin, the declared one is named if it is the best-explaining skin at
the found place (its twins included: the declaration names one of them) and reaches
`min_skin_agreement`, at any lead: a faint overlay of a library skin that leads its look-alikes by
less than `min_skin_margin` is then read. A skin the rule names on its own stands whatever was
declared (a channel that changed its overlay for one video); another skin explaining the overlay
better, or the declared skin explaining it too little, is unknown_skin with the reason.

Twins: overlay tools ship one picture as several presets (input-overlay's pixel-art pads with and
without analog sticks; an Xbox preset with and without a gamepad-id sprite). Such skins
(`twins`: the same rest picture but in a few percent of its pixels) each explain the other's
overlay within a few hundredths, so no twin could ever lead by `min_skin_margin`. They are judged
as one picture against the other skins (the best of them stands for the group), and then against
each other only where they differ (`twin_duel`, `duel_verdict`): the twin that explains those
pixels best in TWIN_MIN_WIN_SHARE of the frames that tell them apart is named (when few frames
do and no other twin won one, the twin without the others' extra controls); otherwise the video is
unknown_skin and says which twins it could be.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import cv2
import numpy as np

from padflow.actions import ACTION_NAMES, BUTTONS, DPAD_COMBINATIONS
from padflow.overlay.crops import box_iou, boxes_overlap, union_box
from padflow.overlay.localize.agreement import (
    DRAWN, INPAINT_RADIUS, MIN_REGION_PIXELS, NOISE_FLOOR, OPAQUE, align_pose, cluster_looks, fitted_opacity, grown_box, skin_agreement,
    warped_rest,
)
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import TemplateIndex
from padflow.overlay.localize.result import Fit, Localization, as_tuple, fit_box

RUNNER_UP_IOU = 0.5  # another skin's fit overlapping the found box this much is a look-alike reading of the same overlay
TWIN_SHARE = 0.05  # two skins whose rest pictures differ in at most this share of their drawn pixels are twins (`twins`)
TWIN_PIXEL_LEVELS = 24.0  # grey levels (alpha-weighted colour, or alpha) from which two twins' pixels differ
TWIN_MIN_FRAMES = 5  # frames one twin must explain better than the others before a share of them decides (`duel_verdict`)
TWIN_MIN_WIN_SHARE = 0.8  # ... and the share of those one twin must win (when both explain them equally, 20 of 25 by chance: p ~ 0.002; 5 of 5: p ~ 0.03)
DUEL_STICK_GRID = 5  # the twin duel's stick positions per axis (-1 .. 1): a cap anywhere on its travel is explained to within an eighth of it
MAX_DUEL_STATES = 512  # states per twin-duel cluster (a d-pad under a clicked stick: 9 x 25 x 2 = 450)


def check_skin(
    frames: list[np.ndarray], index: TemplateIndex, fits: list[Fit], chosen: Localization, cfg: LocalizeConfig, scale: float,
    duel_frames: list[np.ndarray] | None = None, declared: str | None = None,
) -> Localization:
    """The found localization with its skin agreement, or, below min_skin_agreement or min_skin_margin, unknown_skin at the same box.

    `declared`: the skin id the user says the video shows (module doc): where no skin is named otherwise, named
    where it explains the overlay best and to min_skin_agreement, whatever its lead.

    `fits` are every skin's fit in detection px (`scale` detection px per frame px); every other
    skin whose fit overlaps the found box is scored too (`runner_up_agreement`: the best of them).
    The found skin's twins (`twins`) are scored with it as one picture: the best pose among them
    stands for the group against the other skins, and `twin_duel` then names one of them, or
    none (unknown_skin) when the frames do not tell them apart; it reads `duel_frames` (default:
    `frames`; localization passes every sampled frame, where early stopping matched fewer).
    """
    crop_box = grown_box(chosen.box, chosen.frame_size)
    x0, y0, x1, y1 = crop_box
    crops = np.stack([f[y0:y1, x0:x1] for f in frames]).astype(np.float32)  # (T, h, w, 3)
    median = np.median(crops, axis=0)
    found = index.skins[index.skin_ids.index(chosen.skin_id)]
    group = {found.id: (skin_agreement(crops, median, found, chosen.matrix, crop_box), chosen.matrix)}  # skin id -> (agreement, pose)
    twin_ids = {index.skins[k].id for k in twins(index, index.skin_ids.index(chosen.skin_id))}
    scored: dict[str, tuple[float, np.ndarray]] = {}  # the other skins that are no twins: id -> (agreement, pose)
    for fit in fits:
        skin = index.skins[fit.skin]
        if skin.id == chosen.skin_id:
            continue
        transform = fit.transform / scale
        box = fit_box(transform, skin, chosen.frame_size)
        if box[2] > box[0] and box[3] > box[1] and box_iou(box, chosen.box) >= RUNNER_UP_IOU:
            score = skin_agreement(crops, median, skin, transform, crop_box)
            table = group if skin.id in twin_ids else scored
            if score > table.get(skin.id, (-np.inf, None))[0]:
                table[skin.id] = (score, transform)
    others = [score for score, _ in scored.values()]
    for twin_id in twin_ids - set(group):  # twins share the canvas, so the found pose places them too
        group[twin_id] = (skin_agreement(crops, median, index.skins[index.skin_ids.index(twin_id)], chosen.matrix, crop_box), chosen.matrix)
    best_id = max(group, key=lambda k: group[k][0])
    score, pose = group[best_id]
    runner_up = round(max(others), 3) if others else None
    checked = replace(chosen, nearest_skin=best_id, skin_agreement=round(score, 3), runner_up_agreement=runner_up)
    lead = None if runner_up is None else score - runner_up
    clear = lead is None or lead >= cfg.min_skin_margin or (score >= cfg.skin_agreement_alone and lead > 0)
    if score >= cfg.min_skin_agreement and clear:
        others_said = f", best other skin there {runner_up:.2f}" if runner_up is not None else ""
        said = f"it explains the overlay's looks to {score:.2f}{others_said}"
        if len(group) == 1:
            return replace(checked, reason=f"{chosen.reason}; {said}{_overruled(declared, best_id)}")
        members = sorted(group, key=lambda k: -group[k][0])
        if duel_frames is not None and len(duel_frames) > len(frames):
            crops = np.stack([f[y0:y1, x0:x1] for f in duel_frames]).astype(np.float32)
            median = np.median(crops, axis=0)
        skins = [index.skins[index.skin_ids.index(k)] for k in members]
        wins, differing = twin_duel(crops, median, skins, pose, crop_box)
        winner, rule = duel_verdict(skins, wins)
        duel = f"frames won: {', '.join(f'{k} {w}' for k, w in zip(members, wins))}, tied {len(crops) - sum(wins)}"
        if winner is not None and differing >= MIN_REGION_PIXELS:
            skin = skins[winner]
            return _named(checked, skin, pose, f"{chosen.reason}; {said}; of its twins, {skin.id} {rule} in the {differing} px where they differ ({duel}){_overruled(declared, skin.id)}")
        why = f"explains its looks to {score:.2f}, but so do its twins {', '.join(members[1:])}, and the {differing} px where they differ do not tell them apart ({duel})"
    elif score < cfg.min_skin_agreement:
        why = f"explains its looks only to {score:.2f} (a library skin needs >= {cfg.min_skin_agreement:g})"
    else:
        why = (
            f"explains its looks to {score:.2f}, but another library skin there scores {runner_up:.2f} (only {lead:.2f} ahead; "
            f"the drawn skin must lead by >= {cfg.min_skin_margin:g}, or explain the overlay to >= {cfg.skin_agreement_alone:g}; "
            f"if you know the video's skin, declare it: the ingest manifest's `skin`)"
        )
    if declared is not None:
        return _declared_verdict(checked, group, scored, declared, index, cfg)
    reason = (
        f"unknown skin: an overlay is at {list(chosen.box)}; the best-fitting library skin {best_id} "
        f"({chosen.locations} template locations) {why}"
    )
    return _unknown(checked, reason)


def _overruled(declared: str | None, named: str) -> str:
    """A named skin's note where the user declared another: a skin the check names without the declaration stands."""
    return "" if declared is None or declared == named else f" (the manifest declares {declared}: this clear fit stands)"


def _declared_verdict(checked: Localization, group: dict[str, tuple[float, np.ndarray]], scored: dict[str, tuple[float, np.ndarray]],
                      declared: str, index: TemplateIndex, cfg: LocalizeConfig) -> Localization:
    """check_skin's verdict where the user declared the skin (`group`: the found skin and its twins, `scored`: the other
    skins scored at the place; id -> (agreement, pose)): named if it explains the overlay better than every skin but its
    twins (the declaration names one of them) and to min_skin_agreement, at any lead; otherwise unknown_skin saying why."""
    everything = {**scored, **group}
    rivals = {k: v for k, v in everything.items() if k != declared and not (declared in group and k in group)}
    best_rival = max(rivals, key=lambda k: rivals[k][0], default=None)
    rival_said = f"; {best_rival} explains them to {rivals[best_rival][0]:.2f}" if best_rival is not None else ""
    if declared not in everything:
        why = f"is not scored there (no fit of it overlaps the overlay){rival_said}"
    elif best_rival is not None and rivals[best_rival][0] >= everything[declared][0]:
        why = f"explains its looks to {everything[declared][0]:.2f}{rival_said}"
    elif everything[declared][0] < cfg.min_skin_agreement:
        why = f"explains its looks only to {everything[declared][0]:.2f} (a library skin needs >= {cfg.min_skin_agreement:g})"
    else:
        score, pose = everything[declared]
        others_said = f", best other skin there {rivals[best_rival][0]:.2f}" if best_rival is not None else ""
        return replace(_named(checked, index.skins[index.skin_ids.index(declared)], pose,
                              f"{checked.reason}; the declared skin {declared} explains the overlay's looks to {score:.2f}{others_said}"),
                       skin_agreement=round(score, 3))
    return _unknown(checked, f"unknown skin: an overlay is at {list(checked.box)}; the declared skin {declared} {why}")


def _named(checked: Localization, skin, pose: np.ndarray, reason: str) -> Localization:  # noqa: ANN001 (either skin kind)
    """The checked localization naming `skin` at `pose` (its aligned place), box included."""
    transform = np.asarray(pose, np.float64)
    return replace(checked, skin_id=skin.id, family=skin.family, transform=as_tuple(transform),
                   box=fit_box(transform, skin, checked.frame_size), nearest_skin=skin.id, reason=reason)


def _unknown(checked: Localization, reason: str) -> Localization:
    """The checked localization as unknown_skin at its box: no skin, no transform, nothing read."""
    return replace(checked, found=False, unknown_skin=True, skin_id=None, family=None, transform=None, reason=reason)


def twins(index: TemplateIndex, skin: int) -> list[int]:
    """The other skins of the index whose rest picture is the same as `skin`'s but in at most TWIN_SHARE of their drawn pixels.

    Overlay tools ship such twins (one atlas with and without analog sticks, with and without a
    gamepad-id sprite): each explains the other's overlay nearly as well, so neither can lead the
    other by `min_skin_margin`. Measured on the input-overlay presets and the built-in library:
    twins differ in 0.5-1.8 % of their drawn pixels, other skins of one canvas size in 25 % or more.
    Found once per skin of an index (comparing every skin of one canvas size takes ~0.1 s).
    """
    found = index.twin_cache.get(skin)
    if found is None:
        rest = index.skins[skin].rest
        found = index.twin_cache[skin] = [k for k, other in enumerate(index.skins) if k != skin and other.rest.shape == rest.shape and _differing_share(rest, other.rest) <= TWIN_SHARE]
    return list(found)


def _differing_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the pixels either RGBA picture (H, W, 4) draws (alpha >= OPAQUE) where they differ by more than TWIN_PIXEL_LEVELS (alpha-weighted colour, or alpha)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    alpha_a, alpha_b = a[..., 3:] / 255.0, b[..., 3:] / 255.0
    difference = np.maximum(np.abs(alpha_a * a[..., :3] - alpha_b * b[..., :3]).max(axis=2), np.abs(a[..., 3] - b[..., 3]))
    drawn = (alpha_a[..., 0] >= OPAQUE) | (alpha_b[..., 0] >= OPAQUE)
    return float(((difference > TWIN_PIXEL_LEVELS) & drawn).sum() / max(1, drawn.sum()))


def twin_duel(crops: np.ndarray, median: np.ndarray, skins: list, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> tuple[list[int], int]:
    """Per twin skin, the frames whose pixels where the twins differ it explains best (`duel_verdict` reads them); and how many such pixels there are.

    All twins are drawn at one pose (the first skin's, aligned: `align_pose`) over one game
    (in-painted under every twin's drawn pixels) at one opacity (fitted with the first skin's
    rest), so only their differences count. The controls the twins do not share, with every
    control whose region overlaps theirs (a stick drawn on a d-pad), form clusters
    (`_duel_clusters`); each twin is drawn in every state of each cluster (a stick anywhere on a
    grid of its travel, a d-pad in each of its nine states, a button up or down) with the rest at
    rest. The differing pixels: where two twins' drawings of one state differ by more than
    NOISE_FLOOR. Per frame, each twin's error there is the sum over clusters of its error against
    its nearest state; a frame goes to the twin with the lowest error, ties to none.
    """
    transform = align_pose(median, skins[0], transform, crop_box)
    h, w = median.shape[:2]
    clusters = _duel_clusters(skins)
    looks = [[[warped_rest(image, transform, crop_box) for image in cluster_looks(skin, key, actions)] for key, _, actions in clusters] for skin in skins]
    drawn = np.zeros((h, w), np.uint8)
    for skin in skins:
        drawn |= (warped_rest(skin.rest, transform, crop_box)[..., 3] / 255.0 > DRAWN).astype(np.uint8)
    drawn = cv2.dilate(drawn, np.ones((5, 5), np.uint8))
    game = cv2.inpaint(np.clip(median, 0, 255).astype(np.uint8), drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    rest = warped_rest(skins[0].rest, transform, crop_box)
    alpha = rest[..., 3:] / 255.0
    own = alpha[..., 0] >= OPAQUE
    signal = (alpha * (rest[..., :3] - game))[own]
    opacity = fitted_opacity(signal, (median - game)[own])

    def predicted(look: np.ndarray) -> np.ndarray:
        return game + opacity * (look[..., 3:] / 255.0) * (look[..., :3] - game)

    squared = np.zeros((len(skins), len(crops)))  # (twins, T): summed squared error over the differing pixels
    n = 0
    taken = np.zeros((h, w), bool)
    for c, (_, box, _) in enumerate(clusters):
        where = _box_mask(box, transform, crop_box, (h, w)) & ~taken if box is not None else ~taken
        twins_drawn = [[predicted(look) for look in twin[c]] for twin in looks]  # [twin][state] (h, w, 3)
        differing = np.zeros((h, w), bool)
        for j in range(len(skins)):
            for k in range(j + 1, len(skins)):
                for x, y in zip(twins_drawn[j], twins_drawn[k]):
                    differing |= np.abs(x - y).max(axis=2) > NOISE_FLOOR
        differing &= where
        taken |= where
        if not differing.any():
            continue
        n += int(differing.sum())
        pixels = crops[:, differing]  # (T, m, 3)
        for j, states in enumerate(twins_drawn):
            squared[j] += np.stack([((pixels - state[differing]) ** 2).sum(axis=(1, 2)) for state in states]).min(axis=0)
    if n == 0:
        return [0] * len(skins), 0
    order = np.sort(squared, axis=0)
    won = (squared == order[0]) & (order[0] < order[1])  # (twins, T): lowest error, and no tie
    return [int(v.sum()) for v in won], n


def duel_verdict(skins: list, wins: list[int]) -> tuple[int | None, str]:
    """Which twin `twin_duel`'s frame wins name (index into `skins`), and the rule, in words; None when they do not tell.

    A twin that draws more controls can draw its extra ones out of sight (a stick cap pushed over
    a part of the picture of its colour), so it may tie the other in any frame, and a frame it
    ties carries no evidence. Among the frames some twin explains best: at least TWIN_MIN_FRAMES
    of them, TWIN_MIN_WIN_SHARE won by one twin. When fewer frames tell them apart and none of
    those went to another twin, the twin whose controls every other twin also draws is named:
    the others' extra controls would have shown (a stick at rest shows its cap).
    """
    decisive = sum(wins)
    best = int(np.argmax(wins))
    if decisive >= TWIN_MIN_FRAMES:
        if wins[best] >= TWIN_MIN_WIN_SHARE * decisive:
            return best, f"explains best in {wins[best]} of the {decisive} frames that tell them apart"
        return None, ""
    controls = [set(skin.regions()) for skin in skins]
    for j, own in enumerate(controls):
        if all(own < other for k, other in enumerate(controls) if k != j) and all(w == 0 for k, w in enumerate(wins) if k != j):
            return j, "draws only controls its twins draw too, and their extra ones never show"
    return None, ""


def _duel_clusters(skins: list) -> list[tuple[tuple, tuple[float, float, float, float] | None, list[np.ndarray]]]:
    """(key, box in skin px, actions) per cluster of controls `twin_duel` varies, then (key, None, [rest]) for the rest of the picture.

    A cluster: the controls the twins do not share (drawn by one only, or at another place), with
    every control whose region overlaps them, transitively. Its actions: every combination of its
    controls' states (buttons up/down, a d-pad's nine states, a stick on a DUEL_STICK_GRID grid,
    clicked or not), the other controls at rest; at most MAX_DUEL_STATES (a seeded sample beyond).
    """
    regions = [skin.regions() for skin in skins]
    names = sorted(set().union(*regions))
    boxes = {name: union_box([r[name] for r in regions if name in r]) for name in names}
    unshared = [name for name in names if len({tuple(r[name]) if name in r else None for r in regions}) > 1]
    clusters: list[set[str]] = []
    for name in unshared:
        if any(name in c for c in clusters):
            continue
        cluster, grown = {name}, True
        while grown:
            box = union_box([boxes[m] for m in cluster])
            more = {m for m in names if m not in cluster and boxes_overlap(boxes[m], box)}
            cluster |= more
            grown = bool(more)
        clusters.append(cluster)
    out: list[tuple[tuple, tuple[float, float, float, float] | None, list[np.ndarray]]] = []
    for cluster in clusters:
        factors: list[list[dict[str, float]]] = []
        if any(name.startswith("DPAD_") for name in cluster):
            factors.append([{}] + [dict.fromkeys(d, 1.0) for d in DPAD_COMBINATIONS[1:]])
        for name in sorted(cluster):
            if name in BUTTONS and not name.startswith("DPAD_"):
                factors.append([{}, {name: 1.0}])
        grid = np.linspace(-1.0, 1.0, DUEL_STICK_GRID)
        for x_axis, y_axis, thumb in (("LEFT_X", "LEFT_Y", "LEFT_THUMB"), ("RIGHT_X", "RIGHT_Y", "RIGHT_THUMB")):
            if cluster & {x_axis, y_axis, thumb}:
                factors.append([{x_axis: float(x), y_axis: float(y)} for x in grid for y in grid])
        states = [dict(kv for part in combo for kv in part.items()) for combo in itertools.product(*factors)]
        if len(states) > MAX_DUEL_STATES:
            rng = np.random.default_rng(0)
            states = [states[0]] + [states[i] for i in sorted(rng.choice(np.arange(1, len(states)), MAX_DUEL_STATES - 1, replace=False))]
        actions = []
        for state in states:
            action = np.zeros(len(ACTION_NAMES), np.float32)
            for name, value in state.items():
                action[ACTION_NAMES.index(name)] = value
            actions.append(action)
        out.append((tuple(sorted(cluster)), union_box([boxes[m] for m in cluster]), actions))
    return out + [((), None, [np.zeros(len(ACTION_NAMES), np.float32)])]


def _box_mask(box: tuple, transform: np.ndarray, crop_box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """The pixels of the crop (h, w) that a box in skin px covers once drawn at `transform`, grown by 2 px."""
    corners = np.array([[box[0], box[1], 1.0], [box[2], box[3], 1.0]]) @ np.asarray(transform, np.float64).T
    lo = np.floor(corners.min(axis=0) - crop_box[:2]).astype(int) - 2
    hi = np.ceil(corners.max(axis=0) - crop_box[:2]).astype(int) + 2
    mask = np.zeros(shape, bool)
    mask[max(0, lo[1]) : max(0, hi[1]), max(0, lo[0]) : max(0, hi[0])] = True
    return mask
