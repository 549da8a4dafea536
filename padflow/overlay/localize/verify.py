"""Is the named skin really the overlay's skin? How well a skin, drawn over the game it covers, explains what the frames show.

Features find *where* an overlay is and which library skin fits it best; they do not say that
the best fit is the drawn skin. An overlay whose skin is not in the library is fitted by the
nearest look-alike (a skin of the same family shares its geometry up to a few px), and reading it
with that layout gives a wrong table. So the chosen skin is checked as a picture composited over
the game (`skin_agreement`):

- The game under the overlay: the per-pixel median of the sampled frames around the box, with
  the skin's own pixels filled in from their surroundings (cv2.inpaint). A still background (a
  half-black, half-grey road; a maze) shows through a faint overlay and would otherwise count
  against the true skin.
- The pose: each skin is first aligned to the frames (`align_pose`: a sub-pixel shift and a
  scale within ALIGN_MAX_PX / ALIGN_MAX_SCALE of its fit, where its rest look best explains the
  median). The check compares pixels, and a fit a third of a pixel off costs a thin-outlined skin
  drawn at a quarter of its size as much agreement as a wrong skin would (docs/benchmarks.md).
- The opacity: one number `o`, fitted so that median - game = o * alpha * (skin - game) over the
  skin's opaque pixels (alpha: the rest image's; its transparent parts predict the game).
- Per control region (the skin's `regions()`, and the body outside them), per frame: the RMS
  error of the frame against the nearest of the skin's looks (`_looks`: at rest, every button
  pressed, both sticks pushed to one of 8 directions; a held button or a pushed stick is no
  mismatch); its median over frames (moving game content under a translucent overlay passes
  through in a few frames), divided by the region's own signal (o * alpha * |skin - game|), plus
  what the in-painting cannot know of a still background ((1 - o) * the in-painting's own error
  near the region, measured by in-painting a ring of known game pixels around the skin as well
  and comparing: a maze under the overlay is unpredictable, a straight edge between two colours
  is not), plus `NOISE_FLOOR` for compression. Each region counts the same, so a look-alike that
  shares the body but not the buttons, or the buttons but not the body, scores low.

The agreement is 1 - the mean of those ratios (1: explained exactly). The found skin is named
when it reaches `min_skin_agreement` and either leads every other skin whose fit puts the overlay
at the same place by `min_skin_margin` (a true skin stands clearly above its family's other
colourings; an unknown skin's nearest look-alikes score close together), or explains the overlay
to `skin_agreement_alone` while leading them (two library colourings of one family can both
explain a small faint overlay well; no skin outside the library reached that on the tune set).
Otherwise the video is unknown_skin at the box. The thresholds and what they measure:
docs/benchmarks.md (bench/unknown_skin.py, bench/localization.py).

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

from padflow.actions import ACTION_NAMES, BUTTONS, DPAD_COMBINATIONS, N_BUTTONS
from padflow.overlay.crops import box_iou, boxes_overlap, union_box
from padflow.overlay.localize.config import LocalizeConfig
from padflow.overlay.localize.index import TemplateIndex
from padflow.overlay.localize.result import Fit, Localization, as_tuple, fit_box
from padflow.overlay.render import render_overlay

RUNNER_UP_IOU = 0.5  # another skin's fit overlapping the found box this much is a look-alike reading of the same overlay
MARGIN = 0.25  # the frames are compared over the box grown by this fraction of its size per side (the inpainting reads the game around it)
OPAQUE = 0.5  # rest-image alpha (0..1) from which a pixel is the skin's own (fits the opacity, is scored)
OPAQUE_LEVEL = int(np.argmax(np.arange(256, dtype=np.float32) / 255.0 >= OPAQUE))  # the least uint8 alpha a with a / 255 >= OPAQUE (128): the pose search compares alpha unconverted
DRAWN = 0.02  # rest-image alpha above which a pixel is not the bare game (filled in by the inpainting)
NOISE_FLOOR = 8.0  # grey levels of error any region shows from compression and resampling
MIN_REGION_PIXELS = 10  # a region with fewer opaque pixels in the frame is not scored
MIN_SCORED_PIXELS = 50  # opaque pixels inside the frame a comparison needs
MIN_KNOWN_PIXELS = 20  # ring pixels near a region that measure the in-painting's error there (fewer: the whole ring)
INPAINT_RADIUS = 5
ALIGN_FIRST_STEP = (0.5, 0.5, 0.005)  # the pose search's first step: px in x, px in y, log scale
ALIGN_FINEST_PX = 0.125  # it stops when no step of this size (and the matching scale step) helps
ALIGN_MAX_PX = 2.0  # it stays this close to the fit (px) ...
ALIGN_MAX_SCALE = 0.02  # ... and within this share of its scale: a look-alike is scored near where its own fit put it
REACH_PX = 8  # px around the skin drawn at its fit within which the pose search's opaque pixels are gathered (a 2 % scale of a 300-px overlay moves its rim 3 px, a shift 2 more)
RING_FRACTION = 0.1  # width of the ring of known game that measures the in-painting's error, as a fraction of the skin's smaller side
MIN_RING = 3  # px
TWIN_SHARE = 0.05  # two skins whose rest pictures differ in at most this share of their drawn pixels are twins (`twins`)
TWIN_PIXEL_LEVELS = 24.0  # grey levels (alpha-weighted colour, or alpha) from which two twins' pixels differ
TWIN_MIN_FRAMES = 5  # frames one twin must explain better than the others before a share of them decides (`duel_verdict`)
TWIN_MIN_WIN_SHARE = 0.8  # ... and the share of those one twin must win (when both explain them equally, 20 of 25 by chance: p ~ 0.002; 5 of 5: p ~ 0.03)


def check_skin(
    frames: list[np.ndarray], index: TemplateIndex, fits: list[Fit], chosen: Localization, cfg: LocalizeConfig, scale: float, duel_frames: list[np.ndarray] | None = None
) -> Localization:
    """The found localization with its skin agreement, or, below min_skin_agreement or min_skin_margin, unknown_skin at the same box.

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
    others = []
    for fit in fits:
        skin = index.skins[fit.skin]
        if skin.id == chosen.skin_id:
            continue
        transform = fit.transform / scale
        box = fit_box(transform, skin, chosen.frame_size)
        if box[2] > box[0] and box[3] > box[1] and box_iou(box, chosen.box) >= RUNNER_UP_IOU:
            score = skin_agreement(crops, median, skin, transform, crop_box)
            if skin.id not in twin_ids:
                others.append(score)
            elif score > group.get(skin.id, (-np.inf, None))[0]:
                group[skin.id] = (score, transform)
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
            return replace(checked, reason=f"{chosen.reason}; {said}")
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
            transform = np.asarray(pose, np.float64)
            return replace(
                checked, skin_id=skin.id, family=skin.family, transform=as_tuple(transform), box=fit_box(transform, skin, chosen.frame_size),
                nearest_skin=skin.id, reason=f"{chosen.reason}; {said}; of its twins, {skin.id} {rule} in the {differing} px where they differ ({duel})",
            )  # fmt: skip
        why = f"explains its looks to {score:.2f}, but so do its twins {', '.join(members[1:])}, and the {differing} px where they differ do not tell them apart ({duel})"
    elif score < cfg.min_skin_agreement:
        why = f"explains its looks only to {score:.2f} (a library skin needs >= {cfg.min_skin_agreement:g})"
    else:
        why = (
            f"explains its looks to {score:.2f}, but another library skin there scores {runner_up:.2f} (only {lead:.2f} ahead; "
            f"the drawn skin must lead by >= {cfg.min_skin_margin:g}, or explain the overlay to >= {cfg.skin_agreement_alone:g})"
        )
    reason = (
        f"unknown skin: an overlay is at {list(chosen.box)}; the best-fitting library skin {best_id} "
        f"({chosen.locations} template locations) {why}"
    )
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
    looks = [[[warped_rest(image, transform, crop_box) for image in _cluster_looks(skin, key, actions)] for key, _, actions in clusters] for skin in skins]
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


def skin_agreement(crops: np.ndarray, median: np.ndarray, skin, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> float:  # noqa: ANN001 (either skin kind)
    """How well `skin`, placed near the 2x3 template→frame `transform`, explains the frames: 1 - mean per-region error ratio (module doc).

    `crops` (T, h, w, 3) float32 are the sampled frames cut to `crop_box` (frame px), `median`
    their per-pixel median. The skin is scored at its aligned pose (`align_pose`). At most 1; a
    skin with too few opaque pixels in the frame scores -1.
    """
    transform = align_pose(median, skin, transform, crop_box)
    looks = [_warped_rest_u8(image, transform, crop_box) for image in _looks(skin)]  # each (h, w, 4) uint8
    # Where each look differs from the rest look: a region it leaves as at rest predicts exactly what the rest look does there.
    changed = [(look != looks[0]).any(axis=2) for look in looks[1:]]
    rest = looks[0].astype(np.float32)
    alpha = rest[..., 3] / 255.0
    own = alpha >= OPAQUE
    if own.sum() < MIN_SCORED_PIXELS:
        return -1.0
    drawn = cv2.dilate((alpha > DRAWN).astype(np.uint8), np.ones((3, 3), np.uint8))
    median_u8 = np.clip(median, 0, 255).astype(np.uint8)
    game = cv2.inpaint(median_u8, drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    signal = alpha[..., None] * (rest[..., :3] - game)
    seen = median - game
    opacity = fitted_opacity(signal[own], seen[own])
    ring, inpaint_error = _inpainting_error(median, median_u8, drawn, own)
    ratios = []
    for region in _region_masks(skin, transform, crop_box, own):
        if region.sum() < MIN_REGION_PIXELS:
            continue
        ys, xs = np.nonzero(region)
        bw, bh = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
        window = (slice(max(0, ys.min() - bh), ys.max() + 1 + bh), slice(max(0, xs.min() - bw), xs.max() + 1 + bw))
        near = inpaint_error[window][ring[window]]
        if len(near) < MIN_KNOWN_PIXELS:
            near = inpaint_error[ring]
        unpredictable = float(np.sqrt((near**2).mean())) if len(near) else 0.0
        # The region's pixels gathered from its bounding rectangle: the same pixels in the same order as from the crop.
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        inside = region[rows, cols]
        expected = float(np.sqrt(((opacity * signal[rows, cols][inside]) ** 2).mean())) + NOISE_FLOOR + max(0.0, 1.0 - opacity) * unpredictable
        pixels = crops[:, rows, cols][:, inside]  # (T, n, 3)
        under = game[rows, cols][inside]
        compared = [looks[0]] + [look for look, where in zip(looks[1:], changed) if where[rows, cols][inside].any()]
        predicted = []
        for look in compared:
            here = look[rows, cols][inside].astype(np.float32)  # (n, 4)
            predicted.append(under + opacity * (here[:, 3:] / 255.0) * (here[:, :3] - under))
        errors = np.stack([np.sqrt(((pixels - p) ** 2).mean(axis=(1, 2))) for p in predicted])  # (looks, T)
        ratios.append(float(np.median(errors.min(axis=0))) / expected)
    return 1.0 - float(np.mean(ratios)) if ratios else -1.0


def fitted_opacity(signal: np.ndarray, seen: np.ndarray) -> float:
    """The opacity o for which o * `signal` (alpha * (skin - game)) best explains `seen` (median - game), least squares over the pixels given."""
    return float((signal * seen).sum() / ((signal**2).sum() + 1e-6))


def align_pose(median: np.ndarray, skin, transform: np.ndarray, crop_box: tuple[int, int, int, int]) -> np.ndarray:  # noqa: ANN001
    """The pose near `transform` (a shift and a scale about the skin's centre) at which the skin's rest look best explains `median`.

    Residual: RMS over the skin's opaque pixels of median - (game + o * alpha * (rest - game)),
    with the opacity o fitted per pose and the game in-painted once under the skin drawn at
    `transform` (grown by 2 px, so that every pose searched is covered). Pattern search: each of
    (x, y, log scale) is tried one step either way, the best move is kept, and the steps halve
    when none helps, down to ALIGN_FINEST_PX; the pose stays within ALIGN_MAX_PX and ALIGN_MAX_SCALE.
    """
    transform = np.asarray(transform, np.float64)
    h, w = skin.rest.shape[:2]
    centre = transform @ np.array([w / 2, h / 2, 1.0])
    drawn = (warped_rest(skin.rest, transform, crop_box)[..., 3] / 255.0 > DRAWN).astype(np.uint8)
    drawn = cv2.dilate(drawn, np.ones((5, 5), np.uint8))
    game = cv2.inpaint(np.clip(median, 0, 255).astype(np.uint8), drawn, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    seen = median - game

    def pose(step: np.ndarray) -> np.ndarray:
        scale = float(np.exp(step[2]))
        m = transform.copy()
        m[:, :2] *= scale
        m[:, 2] = (transform[:, 2] - centre) * scale + centre + step[:2]
        return m

    residuals = PoseResiduals(game, seen, drawn)
    shrunk: dict[tuple[int, int], np.ndarray] = {}  # poses of one scale step share the shrunk rest image

    def residual(step: np.ndarray) -> float:
        return residuals(_warped_rest_u8(skin.rest, pose(step), crop_box, shrunk))

    best = np.zeros(3)
    best_residual = residual(best)
    step = np.array(ALIGN_FIRST_STEP)
    limit = np.array([ALIGN_MAX_PX, ALIGN_MAX_PX, np.log1p(ALIGN_MAX_SCALE)])
    while step[0] >= ALIGN_FINEST_PX:
        moves = [best + sign * np.eye(3)[i] * step for i in range(3) for sign in (-1.0, 1.0)]
        scored = [(residual(m), k) for k, m in enumerate(moves) if (np.abs(m) <= limit + 1e-9).all()]
        lowest, k = min(scored, default=(np.inf, -1))
        if lowest < best_residual:
            best, best_residual = moves[k], lowest
        else:
            step = step / 2
    return pose(best)


class PoseResiduals:
    """`align_pose`'s residual of the skin's rest look drawn at one pose: RMS over its opaque pixels of seen - o * alpha * (rest - game).

    `game` (h, w, 3) is the in-painted game and `seen` the median minus it, both float32; `drawn`
    (h, w) uint8 the skin's drawn pixels at its fit. A pose searched near the fit draws its opaque
    pixels within REACH_PX of those, so that band is gathered once and each pose reads only it
    (a few thousand pixels, not the crop): the same pixels in the same order, so the same number
    to the bit as over the crop (`whole_crop`), which a pose reaching beyond the band falls back to.
    """

    def __init__(self, game: np.ndarray, seen: np.ndarray, drawn: np.ndarray) -> None:
        self.game, self.seen = game, seen
        self.reach = np.flatnonzero(cv2.dilate(drawn, np.ones((2 * REACH_PX + 1, 2 * REACH_PX + 1), np.uint8)))
        self.game_near, self.seen_near = game.reshape(-1, 3)[self.reach], seen.reshape(-1, 3)[self.reach]

    def __call__(self, rest: np.ndarray) -> float:
        """The residual of `rest` (h, w, 4) uint8, the rest look warped to the pose; inf below MIN_SCORED_PIXELS opaque pixels."""
        count = int(np.count_nonzero(rest[..., 3] >= OPAQUE_LEVEL))
        if count < MIN_SCORED_PIXELS:
            return np.inf
        near = rest.reshape(-1).view(np.uint32)[self.reach]  # one RGBA pixel per element: a quarter of the gathers
        own = near.view(np.uint8).reshape(-1, 4)[:, 3] >= OPAQUE_LEVEL
        if int(own.sum()) != count:
            return self.whole_crop(rest)
        pixels = near[own].view(np.uint8).reshape(-1, 4).astype(np.float32)  # (n, 4)
        signal = pixels[:, 3:] / 255.0 * (pixels[:, :3] - np.compress(own, self.game_near, axis=0))
        seen = np.compress(own, self.seen_near, axis=0)
        opacity = fitted_opacity(signal, seen)
        return float(np.sqrt(((seen - opacity * signal) ** 2).mean()))

    def whole_crop(self, rest: np.ndarray) -> float:
        """The same residual computed over the whole crop."""
        rest = rest.astype(np.float32)
        alpha = rest[..., 3:] / 255.0
        own = alpha[..., 0] >= OPAQUE
        if own.sum() < MIN_SCORED_PIXELS:
            return np.inf
        signal = (alpha * (rest[..., :3] - self.game))[own]
        opacity = fitted_opacity(signal, self.seen[own])
        return float(np.sqrt(((self.seen[own] - opacity * signal) ** 2).mean()))


def warped_rest(rest: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """An RGBA skin image (H, W, 4) drawn into `box` of the frame by the 2x3 template→frame transform, as float32.

    The image is first shrunk with area averaging to about the overlay's size (a plain warp of a
    256-px image onto 60 px aliases its thin outlines), then warped the rest of the way.
    """
    return _warped_rest_u8(rest, transform, box).astype(np.float32)


def _warped_rest_u8(rest: np.ndarray, transform: np.ndarray, box: tuple[int, int, int, int], shrunk: dict | None = None) -> np.ndarray:
    """`warped_rest` in the image's own dtype (uint8): callers that read a part of it convert only that part.

    `shrunk` (size -> `rest` shrunk to it) keeps the shrunk images of one `rest` for the next call.
    """
    x0, y0, x1, y1 = box
    scale = float(np.hypot(*transform[:, 0]))
    source, shrink = rest, 1.0
    if scale < 1.0:
        size = (max(1, round(rest.shape[1] * scale)), max(1, round(rest.shape[0] * scale)))
        shrunk = {} if shrunk is None else shrunk
        source = shrunk.get(size)
        if source is None:
            source = shrunk[size] = cv2.resize(rest, size, interpolation=cv2.INTER_AREA)
        shrink = rest.shape[1] / size[0]
    m = transform.astype(np.float64).copy()
    m[:, :2] *= shrink
    m[:, 2] -= (x0, y0)
    return cv2.warpAffine(source, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def _inpainting_error(median: np.ndarray, median_u8: np.ndarray, drawn: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the game around the skin is known (`ring`), and how far the in-painting misses it there (h, w) grey levels.

    The ring (RING_FRACTION of the skin's smaller side, at least MIN_RING px, around its drawn
    pixels) is hidden and in-painted from beyond it, as the game under the skin is.
    """
    ys, xs = np.nonzero(own)
    width = max(MIN_RING, round(RING_FRACTION * min(xs.max() - xs.min(), ys.max() - ys.min())))
    hidden = cv2.dilate(drawn, np.ones((2 * width + 1, 2 * width + 1), np.uint8))
    ring = (hidden > 0) & (drawn == 0)
    guessed = cv2.inpaint(median_u8, hidden, INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float32)
    return ring, np.sqrt(((median - guessed) ** 2).mean(axis=2))


def grown_box(box: tuple[int, int, int, int], frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    mx, my = round(MARGIN * (x1 - x0)), round(MARGIN * (y1 - y0))
    return max(0, x0 - mx), max(0, y0 - my), min(frame_size[0], x1 + mx), min(frame_size[1], y1 + my)


def _region_masks(skin, transform: np.ndarray, crop_box: tuple[int, int, int, int], own: np.ndarray) -> list[np.ndarray]:  # noqa: ANN001
    """The skin's opaque pixels split by control region (each distinct box once), then the body outside every region."""
    h, w = own.shape
    body = own.copy()
    masks = []
    for box in dict.fromkeys(tuple(b) for b in skin.regions().values()):
        if box[2] <= box[0] or box[3] <= box[1]:
            continue  # an undrawn control's empty box
        corners = np.array([[box[0], box[1], 1.0], [box[2], box[3], 1.0]]) @ np.asarray(transform, np.float64).T
        lo = np.floor(corners.min(axis=0) - crop_box[:2]).astype(int)
        hi = np.ceil(corners.max(axis=0) - crop_box[:2]).astype(int)
        bx0, by0, bx1, by1 = max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])
        if bx1 <= bx0 or by1 <= by0:
            continue
        mask = np.zeros((h, w), bool)
        mask[by0:by1, bx0:bx1] = own[by0:by1, bx0:bx1]
        body[by0:by1, bx0:bx1] = False
        masks.append(mask)
    return masks + [body]


_LOOKS: dict[tuple[int, str], tuple[object, list[np.ndarray]]] = {}  # (id(skin), which) -> (the skin, kept so its id stays its own; its looks)
MAX_LOOKS = 256
STICK_DIRECTIONS = 8  # pushes per stick the check compares against (a cap held off centre is no mismatch)
DUEL_STICK_GRID = 5  # the twin duel's stick positions per axis (-1 .. 1): a cap anywhere on its travel is explained to within an eighth of it
MAX_DUEL_STATES = 512  # states per twin-duel cluster (a d-pad under a clicked stick: 9 x 25 x 2 = 450)


def _looks(skin) -> list[np.ndarray]:  # noqa: ANN001
    """The skin's RGBA looks at native size: at rest, every button pressed, then both sticks pushed to each of STICK_DIRECTIONS; rendered once per skin object."""
    return _cached(skin, "check", _check_actions)


def _cluster_looks(skin, key: tuple, actions: list[np.ndarray]) -> list[np.ndarray]:  # noqa: ANN001
    """The skin drawn in each of a `twin_duel` cluster's states (the first: at rest), rendered once per skin object and cluster."""
    return _cached(skin, "duel " + " ".join(key), lambda: actions)


def _check_actions() -> list[np.ndarray]:
    every_button = np.zeros(len(ACTION_NAMES), np.float32)
    every_button[:N_BUTTONS] = 1.0
    actions = [np.zeros(len(ACTION_NAMES), np.float32), every_button]
    for angle in np.arange(STICK_DIRECTIONS) * 2 * np.pi / STICK_DIRECTIONS:
        x, y = np.cos(angle), np.sin(angle)
        x, y = x / max(abs(x), abs(y)), y / max(abs(x), abs(y))  # to the square's edge; a round travel clips it
        pushed = np.zeros(len(ACTION_NAMES), np.float32)
        pushed[N_BUTTONS:] = (x, y, x, y)
        actions.append(pushed)
    return actions


def _cached(skin, which: str, actions) -> list[np.ndarray]:  # noqa: ANN001
    """`skin`'s looks for `actions()` (the first is the rest picture itself), rendered once per skin object."""
    kept = _LOOKS.get((id(skin), which))
    if kept is None or kept[0] is not skin:
        looks = [skin.rest] + [render_overlay(skin, action) for action in actions()[1:]]
        if len(_LOOKS) >= MAX_LOOKS:
            _LOOKS.clear()
        kept = _LOOKS[(id(skin), which)] = (skin, looks)
    return kept[1]
