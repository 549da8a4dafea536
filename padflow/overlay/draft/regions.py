"""Control regions: pixels that switch together, split where neighbouring controls chained, clustered into one overlay; sticks.

See padflow.overlay.draft for the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from padflow.overlay.draft.model import DraftSettings

MIN_REGION_SIDE = 3  # px; a thinner group is the edge of something moving, not a control
MAX_SPLITS = 40  # seeds tried when splitting one group
SPLIT_SEED_JACCARD = 0.8  # a split's seed is the pixel with the most others this alike
STICK_PLACE_PX = 2  # px grid on which a stick's cap positions are counted
STICK_MIN_PLACES = 5  # a stick's changed pixels centre on at least this many distinct places
STICK_MIN_FILL = 0.6  # share of its box a stick's blob fills
MAX_STICK_WIDTH = 0.12  # fraction of frame width: the widest stick blob (an overlay is at most 0.3 wide)
CLUSTER_GAP = 0.04  # fraction of frame width: regions closer than this belong to one overlay


@dataclass(eq=False)
class Group:
    mask: np.ndarray  # (H, W) bool
    box: tuple[int, int, int, int]
    active: np.ndarray  # (T,) share of the group's pixels differing
    coherence: float


def linked_groups(differs: np.ndarray, share: np.ndarray, s: DraftSettings) -> list[Group]:
    """Connected groups of candidate pixels whose 4-neighbours differ in nearly the same frames."""
    h, w = share.shape
    candidate = (share >= s.min_share) & (share <= s.max_share)
    count = differs.sum(axis=0).astype(np.float32)
    # Nodes at even coordinates of a doubled grid, links at the odd cells between them: connected
    # components of that grid (4-connectivity) are the components of the link graph.
    grid = np.zeros((2 * h - 1, 2 * w - 1), np.uint8)
    grid[::2, ::2] = candidate
    both = candidate[:, :-1] & candidate[:, 1:]
    inter = (differs[:, :, :-1] & differs[:, :, 1:]).sum(axis=0)
    grid[::2, 1::2] = both & (inter >= s.link * (count[:, :-1] + count[:, 1:] - inter))
    both = candidate[:-1] & candidate[1:]
    inter = (differs[:, :-1] & differs[:, 1:]).sum(axis=0)
    grid[1::2, ::2] = both & (inter >= s.link * (count[:-1] + count[1:] - inter))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grid, connectivity=4)
    groups = []
    for k in range(1, n):
        gx, gy, gw, gh, _ = stats[k]
        x0, y0, x1, y1 = gx // 2, gy // 2, (gx + gw + 1) // 2, (gy + gh + 1) // 2
        if min(x1 - x0, y1 - y0) < MIN_REGION_SIDE:
            continue
        local = labels[2 * y0 : 2 * y1 : 2, 2 * x0 : 2 * x1 : 2] == k
        if local.sum() < s.min_pixels:
            continue
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = local
        groups.append(make_group(mask, differs))
    return groups


def make_group(mask: np.ndarray, differs: np.ndarray) -> Group:
    ys, xs = np.nonzero(mask)
    per_frame = differs[:, ys, xs].mean(axis=1)  # (T,)
    coherence = float((per_frame**2).sum() / max(per_frame.sum(), 1e-9))
    return Group(mask, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), per_frame, coherence)


def split(g: Group, differs: np.ndarray, s: DraftSettings) -> list[Group]:
    """A group's pixels clustered around seeds by their "differs" series (Jaccard >= `link` with the seed), each cluster's connected parts a group."""
    ys, xs = np.nonzero(g.mask)
    series = differs[:, ys, xs].astype(np.float32)  # (T, n)
    counts = series.sum(axis=0)
    inter = series.T @ series  # (n, n) frames both differ
    jaccard = inter / np.maximum(counts[:, None] + counts[None, :] - inter, 1.0)
    close = jaccard >= SPLIT_SEED_JACCARD
    left = counts > 0
    out = []
    for _ in range(MAX_SPLITS):
        if left.sum() < s.min_pixels:
            break
        # The seed is the pixel most others switch with: the middle of a control, not a pixel between two.
        seed = int(np.argmax(np.where(left, (close & left[None, :]).sum(axis=1), -1)))
        members = left & (jaccard[seed] >= s.link)
        left &= ~members
        left[seed] = False
        if members.sum() < s.min_pixels:
            continue
        mask = np.zeros(g.mask.shape, np.uint8)
        mask[ys[members], xs[members]] = 1
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] >= s.min_pixels and min(stats[k, 2], stats[k, 3]) >= MIN_REGION_SIDE:
                out.append(make_group(labels == k, differs))
    return out


def merged(groups: list[Group], differs: np.ndarray, s: DraftSettings) -> list[Group]:
    """Touching groups that switch in the same frames are one control (a glyph and its button, halves split by noise)."""
    groups = list(groups)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                if not touch(a.box, b.box):
                    continue
                on_a, on_b = a.active >= 0.5, b.active >= 0.5
                union = np.count_nonzero(on_a | on_b)
                if union and np.count_nonzero(on_a & on_b) >= s.link * union:
                    groups[i] = make_group(a.mask | b.mask, differs)
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return groups


def touch(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int = 2) -> bool:
    return a[0] <= b[2] + gap and b[0] <= a[2] + gap and a[1] <= b[3] + gap and b[1] <= a[3] + gap


def overlay_cluster(groups: list[Group], frame_width: int) -> list[Group]:
    """The cluster of regions lying close together that has the most of them, spread widest: an overlay's controls."""
    gap = round(CLUSTER_GAP * frame_width)
    n = len(groups)
    cluster = list(range(n))
    for i in range(n):
        for j in range(i + 1, n):
            if touch(groups[i].box, groups[j].box, gap):
                a, b = cluster[i], cluster[j]
                cluster = [a if c == b else c for c in cluster]

    def weight(c: int) -> float:
        # Many controls spread in two dimensions: a moving game object's trail makes a line of groups.
        members = [g for g, k in zip(groups, cluster) if k == c]
        x0, y0 = min(g.box[0] for g in members), min(g.box[1] for g in members)
        x1, y1 = max(g.box[2] for g in members), max(g.box[3] for g in members)
        return len(members) * min(x1 - x0, y1 - y0)

    best = max(set(cluster), key=weight)
    return [g for g, c in zip(groups, cluster) if c == best]


def steady(g: Group, frames: np.ndarray) -> float:
    """How much a group's look varies while it differs: the median over its pixels of the largest channel's std over those frames.

    A control shows one pressed look each time (compression noise only); a game object passing
    shows different parts of itself, or different objects.
    """
    ys, xs = np.nonzero(g.mask)
    values = frames[g.active >= 0.5][:, ys, xs].astype(np.float32)  # (n_on, n_px, 3)
    return float(np.median(values.std(axis=0).max(axis=1))) if len(values) else 0.0


def presses(g: Group) -> int:
    """How many times a group switched from its rest look to another (runs of frames where most of it differs)."""
    on = (g.active >= 0.5).astype(np.int8)
    return int(np.count_nonzero(np.diff(on) == 1) + on[0])


def within(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def sticks_of(frames: np.ndarray, differs: np.ndarray, share: np.ndarray, s: DraftSettings, frame_width: int) -> list[dict[str, Any]]:
    """Sticks: blobs of *unsteady* pixels (their look while differing varies: a cap moving over a
    well shows its body, its edge or the well) whose changed pixels move around the blob's middle
    to many distinct places in two dimensions.

    Each stick: centre (the blob's middle), cap radius (from the changed area per frame), travel
    (95th percentile of the changed pixels' centroid distance from the centre), the cap's look
    (median of patches centred on each frame's centroid), its pixels and its box. `frame_width`: the
    video's (px; `frames` may be a part of it), which bounds a stick's size.
    """
    t, h, w = differs.shape
    total = np.zeros((h, w, 3), np.float32)
    squares = np.zeros((h, w, 3), np.float32)
    for i in range(t):
        on = differs[i][..., None]
        value = frames[i].astype(np.float32) * on
        total += value
        squares += value * value
    n = np.maximum(differs.sum(axis=0), 1)[..., None]
    spread = np.sqrt(np.maximum(squares / n - (total / n) ** 2, 0.0)).max(axis=2)
    unsteady = ((spread > s.steady) & (share >= s.min_share) & (share <= s.max_share)).astype(np.uint8)
    unsteady = cv2.morphologyEx(unsteady, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(unsteady, connectivity=8)
    sticks = []
    for k in range(1, count):
        bx, by, bw, bh, area = stats[k]
        # Round: a cap swept over its travel fills a disc (0.79 of its box); a stick merged with buttons does not.
        if area < 4 * s.min_pixels or not 0.6 <= bw / bh <= 1.6 or max(bw, bh) > MAX_STICK_WIDTH * frame_width or area < STICK_MIN_FILL * bw * bh:
            continue
        local = labels[by : by + bh, bx : bx + bw] == k
        ys, xs = np.nonzero(local)
        ys, xs = ys + by, xs + bx
        series = differs[:, ys, xs]  # (T, n)
        sizes = series.sum(axis=1)
        moving = sizes >= s.min_pixels
        if moving.sum() < 8:
            continue
        cx, cy = bx + bw / 2, by + bh / 2
        path = np.array([(xs[row].mean() - cx, ys[row].mean() - cy) for row in series[moving]])
        if min(path[:, 0].std(), path[:, 1].std()) < s.stick_spread * max(bw, bh):
            continue
        # A cap stops in many places; a flickering game sprite in few.
        places = len({(round(x / STICK_PLACE_PX), round(y / STICK_PLACE_PX)) for x, y in path})
        if places < STICK_MIN_PLACES:
            continue
        radius = float(np.sqrt(np.median(sizes[moving]) / (2 * np.pi)))  # the cap where it is and where the rest look has it
        travel = max(1.0, min(float(np.percentile(np.hypot(path[:, 0], path[:, 1]), 95)), max(bw, bh) / 2 - radius))
        r = int(np.ceil(radius))
        patches = []
        for frame, (dx, dy) in zip(frames[moving], path):
            px, py = int(round(cx + dx)), int(round(cy + dy))
            if r <= px < w - r and r <= py < h - r:
                patches.append(frame[py - r : py + r + 1, px - r : px + r + 1])
        if not patches:
            continue
        reach = radius + travel
        sticks.append({"centre": (cx, cy), "radius": radius, "travel": travel, "pixels": (ys, xs), "share": float(moving.mean()),
                       "cap": np.median(np.stack(patches), axis=0).astype(np.uint8),
                       "box": (int(cx - reach), int(cy - reach), int(np.ceil(cx + reach)) + 1, int(np.ceil(cy + reach)) + 1)})  # fmt: skip
    return sticks
