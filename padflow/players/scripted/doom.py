"""Scripted Doom players: aim with the right stick, walk with the left, fire in trigger bursts.

They read `DoomState` (position, facing, actors, walls), never pixels, and decide what a
person with a gamepad would mean to do; the HumanizedGamepad adds the reaction delay,
smooth thumbs, tremor and fumbles. Angles are degrees, positive = counter-clockwise (left).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from padflow.players.base import ScriptedPlayer
from padflow.players.human import Intent
from padflow.sim.engines.doom import MAX_TURN_DEG_PER_TIC, STICK_DEADZONE, DoomObject, DoomState

MONSTERS = frozenset({
    "Zombieman", "ShotgunGuy", "ChaingunGuy", "DoomImp", "Demon", "Spectre", "Cacodemon",
    "LostSoul", "MarineChainsawVzd", "BaronOfHell", "HellKnight", "Revenant", "Arachnotron",
})  # fmt: skip
MONSTER_RADIUS = 20.0  # map units: Doom's common monster radius, for "is the crosshair on it"
AIM_NOISE_DEG = 2.0  # a player's targeting error (std, degrees) per unit of skill.aim_noise
TURN_GAIN = 0.25  # commanded turn rate per degree of (lag-corrected) aim error, deg/tic per deg
VELOCITY_WINDOW = 12  # tics of position history behind a velocity estimate
COAST_TICS = 10  # Doom's friction (x0.906 a tic) lets a released runner coast about 10 tics' worth
FIRE = "RIGHT_TRIGGER"
USE = "SOUTH"  # opens doors
TAP_PRESS_FRAMES = 4  # a trigger tap held this long fires one shot
TAP_CYCLE_FRAMES = 16  # a tap every 16 tics: the pistol's own refire time, so no shot is lost
# Where a player who knows a full map heads first, by map name (map units).
LANDMARKS: dict[str, tuple[float, float]] = {
    "E1M1": (640.0, -480.0),  # freedoom1: the courtyard behind the door at the first hall's far end
    "MAP01": (384.0, 200.0),  # freedoom2: the side room off the first corridor, where zombiemen wait
}


def bearing(state: DoomState, x: float, y: float) -> float:
    """Degrees to turn from the player's facing to face (x, y); positive = left, in [-180, 180)."""
    want = math.degrees(math.atan2(y - state.y, x - state.x))
    return (want - state.angle + 180.0) % 360.0 - 180.0


def distance(state: DoomState, x: float, y: float) -> float:
    return math.hypot(x - state.x, y - state.y)


def turn_stick(rate_deg_per_tic: float) -> float:
    """Right-stick x for a wanted turn rate (positive = left), past the dead zone."""
    fraction = min(abs(rate_deg_per_tic) / MAX_TURN_DEG_PER_TIC, 1.0)
    if fraction < 1e-3:
        return 0.0
    return -math.copysign(STICK_DEADZONE + (1.0 - STICK_DEADZONE) * fraction, rate_deg_per_tic)


def stick_turn_rate(stick_x: float) -> float:
    """The turn rate (deg/tic, positive = left) a right-stick x gives; inverse of turn_stick."""
    fraction = max(abs(stick_x) - STICK_DEADZONE, 0.0) / (1.0 - STICK_DEADZONE)
    return -math.copysign(fraction * MAX_TURN_DEG_PER_TIC, stick_x)


def walk_stick(state: DoomState, dx: float, dy: float, speed: float = 1.0) -> tuple[float, float]:
    """Left stick (strafe right, forward) that walks along world direction (dx, dy) at `speed` of full tilt."""
    norm = math.hypot(dx, dy)
    if norm < 1e-6:
        return (0.0, 0.0)
    a = math.radians(state.angle)
    forward = (dx * math.cos(a) + dy * math.sin(a)) / norm
    right = (dx * math.sin(a) - dy * math.cos(a)) / norm
    return (float(np.clip(right * speed, -1, 1)), float(np.clip(forward * speed, -1, 1)))


def live_monsters(state: DoomState) -> list[DoomObject]:
    return [o for o in state.objects if o.name in MONSTERS]


class DoomPlayer(ScriptedPlayer):
    """Shared habits: a fresh aiming error per target, memory of where actors were, and a
    sense of the turn already on its way from the thumb (a person leads for their own lag)."""

    def on_reset(self) -> None:
        lo, hi = self.skill.reaction_frames
        # Frames between deciding a turn and the view finishing it: reaction + thumb glide.
        lag = round((lo + hi) / 2 + 1.0 / self.skill.stick_response)
        self._pending_turn: deque[float] = deque([0.0] * lag, maxlen=lag)
        self._target_id: int | None = None
        self._aim_offset = 0.0
        self._history: dict[int, deque[tuple[float, float]]] = {}
        self._velocity: dict[int, tuple[float, float]] = {}

    def decide(self, state: DoomState) -> Intent:
        intent = self.plan(state)
        self._pending_turn.append(stick_turn_rate(intent.right[0]))
        return intent

    def plan(self, state: DoomState) -> Intent:
        raise NotImplementedError(f"{type(self).__name__} must implement plan(state)")

    def aim_stick(self, error_deg: float, feedforward: float = 0.0) -> float:
        """Right-stick x that closes an aim error (positive = target to the left), net of the
        turn this player has already asked for but not yet seen."""
        return turn_stick(TURN_GAIN * (error_deg - sum(self._pending_turn)) + feedforward)

    def track(self, state: DoomState) -> None:
        """Update per-actor velocities (map units per tic) over the last VELOCITY_WINDOW tics.

        Doom monsters walk in steps every few tics, so one tic's displacement is mostly zero.
        """
        seen = {o.id: (o.x, o.y) for o in state.objects}
        self._history = {i: self._history.get(i, deque(maxlen=VELOCITY_WINDOW)) for i in seen}
        for i, xy in seen.items():
            self._history[i].append(xy)
        self._velocity = {
            i: ((h[-1][0] - h[0][0]) / (len(h) - 1), (h[-1][1] - h[0][1]) / (len(h) - 1))
            for i, h in self._history.items()
            if len(h) > 1
        }

    def aim_error(self, state: DoomState, target: DoomObject, x: float | None = None, y: float | None = None) -> float:
        """Bearing to the target (or a point on its behalf) including this player's own aiming error."""
        if target.id != self._target_id:
            self._target_id = target.id
            self._aim_offset = float(self.rng.normal(0.0, self.skill.aim_noise * AIM_NOISE_DEG))
        return bearing(state, target.x if x is None else x, target.y if y is None else y) + self._aim_offset

    def walk_route(self, state: DoomState, route: RoutePlan) -> Intent:
        """Walk the route, looking where it goes."""
        waypoint = route.waypoint(state.x, state.y)
        error = bearing(state, *waypoint)
        return Intent(left=route_walk(state, waypoint, error), right=(self.aim_stick(error), 0.0))

    def on_target(self, state: DoomState, target: DoomObject, error_deg: float, slack: float = 1.0) -> bool:
        """The crosshair is on the target: within its angular half-width (times `slack`)."""
        half_width = math.degrees(math.atan2(MONSTER_RADIUS, max(distance(state, target.x, target.y), 1.0)))
        return abs(error_deg) < half_width * slack


class Shooter(DoomPlayer):
    """Turn to the monster that is closest in time-to-face and tap the trigger while on it.

    Taps, not a held trigger: Doom's pistol and chaingun spray once the trigger is held
    (refire), while each fresh press shoots straight.
    """

    def on_reset(self) -> None:
        super().on_reset()
        self._fire_frames = 0  # frames of the current tap-and-release cycle, 0 = idle

    def choose(self, state: DoomState) -> DoomObject | None:
        monsters = live_monsters(state)
        if not monsters:
            return None
        # Prefer what is near and what needs little turning: a person does not spin for a far one.
        return min(monsters, key=lambda o: distance(state, o.x, o.y) + 4.0 * abs(bearing(state, o.x, o.y)))

    def plan(self, state: DoomState) -> Intent:
        target = self.choose(state)
        return Intent() if target is None else self.shoot_at(state, target)

    def shoot_at(self, state: DoomState, target: DoomObject) -> Intent:
        error = self.aim_error(state, target)
        wants = self.on_target(state, target, error)
        if self._fire_frames or wants:
            self._fire_frames = (self._fire_frames + 1) % TAP_CYCLE_FRAMES
        fire = 0 < self._fire_frames <= TAP_PRESS_FRAMES
        return Intent.of(*([FIRE] if fire else []), right=(self.aim_stick(error), 0.0))


class FirstShot(DoomPlayer):
    """Line up carefully, then squeeze off a single shot: the pistol's first shot is exact."""

    def on_reset(self) -> None:
        super().on_reset()
        self._steady = 0
        self._shots_started = False

    def plan(self, state: DoomState) -> Intent:
        monsters = live_monsters(state)
        if not monsters:
            return Intent()
        target = monsters[0]
        error = self.aim_error(state, target)
        self._steady = self._steady + 1 if self.on_target(state, target, error, slack=0.5) else 0
        # Wait until the aim has held still for a moment, as a careful person would.
        fire = self._steady >= 6 or self._shots_started
        self._shots_started = fire and self.on_target(state, target, error)
        return Intent.of(*([FIRE] if fire else []), right=(self.aim_stick(error), 0.0))


class LeadShot(DoomPlayer):
    """Lead a moving target: aim where it will be when the rocket arrives, and fire only when
    it will not turn back at a patrol point before the rocket gets there."""

    rocket_speed = 20.0  # map units per tic (Doom's rocket)
    settle_tics = 20  # watch the target this long before trusting its speed
    close_range = 420.0  # map units: walk up to this distance first, so the rocket flies briefly
    safe_range = 200.0  # map units: never closer, the rocket's blast would hurt the shooter
    standing_speed = 2.0  # map units per tic: slower than this counts as standing still

    def on_reset(self) -> None:
        super().on_reset()
        self._last_xy: tuple[float, float] | None = None

    def _own_speed(self, state: DoomState) -> float:
        last, self._last_xy = self._last_xy, (state.x, state.y)
        return math.inf if last is None else math.hypot(state.x - last[0], state.y - last[1])

    def plan(self, state: DoomState) -> Intent:
        self.track(state)
        monsters = live_monsters(state)
        if not monsters:
            return Intent()
        target = monsters[0]
        vx, vy = self._velocity.get(target.id, (0.0, 0.0))
        t = distance(state, target.x, target.y) / self.rocket_speed
        for _ in range(3):  # fixed-point refine of the intercept time
            t = distance(state, target.x + vx * t, target.y + vy * t) / self.rocket_speed
        lead_x, lead_y = target.x + vx * t, target.y + vy * t
        error = self.aim_error(state, target, lead_x, lead_y)
        # Feed-forward the lead point's angular speed so the aim keeps pace instead of lagging.
        rx, ry = lead_x - state.x, lead_y - state.y
        drift = math.degrees((rx * vy - ry * vx) / max(rx * rx + ry * ry, 1.0))
        steady = state.tic >= self.settle_tics
        clear = self._tics_to_turnaround(state, target, vx, vy) > t + len(self._pending_turn)
        gap = distance(state, target.x, target.y)
        walk = walk_stick(state, target.x - state.x, target.y - state.y) if gap > self.close_range else (0.0, 0.0)
        # Shoot from a standstill: the shooter's own drift would spoil the lead.
        standing = self._own_speed(state) < self.standing_speed and walk == (0.0, 0.0)
        fire = steady and clear and standing and self.safe_range < gap and self.on_target(state, target, error)
        return Intent.of(*([FIRE] if fire else []), left=walk, right=(self.aim_stick(error, drift), 0.0))

    @staticmethod
    def _tics_to_turnaround(state: DoomState, target: DoomObject, vx: float, vy: float) -> float:
        """Tics until the target reaches the patrol point it is heading for (inf if none)."""
        speed = math.hypot(vx, vy)
        if speed < 1e-6:
            return math.inf
        # Distance to each patrol point along the direction of travel; behind ones are negative.
        along = [
            ((p.x - target.x) * vx + (p.y - target.y) * vy) / speed for p in state.objects if p.name == "PatrolPoint"
        ]
        ahead = [d for d in along if d > 0]
        return min(ahead) / speed if ahead else math.inf


class Gatherer(DoomPlayer):
    """Run for the medkit that is cheapest to reach (near, and little turning), looking at it."""

    item = "Medikit"

    def plan(self, state: DoomState) -> Intent:
        items = [o for o in state.objects if o.name == self.item]
        if not items:
            return Intent()
        goal = min(items, key=lambda o: distance(state, o.x, o.y) + 3.0 * abs(bearing(state, o.x, o.y)))
        error = self.aim_error(state, goal)
        # Run flat out when facing it; slow down to turn on the spot for one behind.
        speed = max(math.cos(math.radians(min(abs(error), 90.0))), 0.2)
        walk = walk_stick(state, goal.x - state.x, goal.y - state.y, speed)
        return Intent(left=walk, right=(self.aim_stick(error), 0.0))


class RoutePlan:
    """A grid distance field to a goal point over the map's blocking walls, to follow downhill.

    The map does not change, so a player builds one per episode from the reset snapshot.
    """

    cell = 16.0  # map units per grid cell
    clearance = 22.0  # map units kept from walls: the player's radius (16) plus a margin
    lookahead = 6  # cells along the path to aim at, so corners are cut smoothly

    def __init__(self, walls: tuple[tuple[float, float, float, float], ...], goal_x: float, goal_y: float):
        self.goal = (goal_x, goal_y)
        segs = np.array(walls, dtype=np.float64)
        self._origin = (segs[:, [0, 2]].min() - self.cell, segs[:, [1, 3]].min() - self.cell)
        nx = int((segs[:, [0, 2]].max() - self._origin[0]) / self.cell) + 2
        ny = int((segs[:, [1, 3]].max() - self._origin[1]) / self.cell) + 2
        self._shape = (nx, ny)
        cx = self._origin[0] + (np.arange(nx) + 0.5) * self.cell
        cy = self._origin[1] + (np.arange(ny) + 0.5) * self.cell
        px, py = np.meshgrid(cx, cy, indexing="ij")
        free = np.ones((nx, ny), dtype=bool)
        for x1, y1, x2, y2 in segs:
            dx, dy = x2 - x1, y2 - y1
            t = np.clip(((px - x1) * dx + (py - y1) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
            free &= np.hypot(px - (x1 + t * dx), py - (y1 + t * dy)) >= self.clearance
        field = np.full((nx, ny), np.inf)
        start = self._nearest_free(free, *self._cell_of(goal_x, goal_y))
        field[start] = 0.0
        frontier = deque([start])
        while frontier:  # breadth-first over the 4-neighbour grid
            i, j = frontier.popleft()
            for ni, nj in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= ni < nx and 0 <= nj < ny and free[ni, nj] and field[ni, nj] == np.inf:
                    field[ni, nj] = field[i, j] + 1.0
                    frontier.append((ni, nj))
        self._field = field

    def _cell_of(self, x: float, y: float) -> tuple[int, int]:
        nx, ny = self._shape
        i = int((x - self._origin[0]) / self.cell)
        j = int((y - self._origin[1]) / self.cell)
        return min(max(i, 0), nx - 1), min(max(j, 0), ny - 1)

    @staticmethod
    def _nearest_free(mask: np.ndarray, i: int, j: int) -> tuple[int, int]:
        cells = np.argwhere(mask)
        k = int(np.argmin((cells[:, 0] - i) ** 2 + (cells[:, 1] - j) ** 2))
        return int(cells[k, 0]), int(cells[k, 1])

    def waypoint(self, x: float, y: float) -> tuple[float, float]:
        """The point `lookahead` cells down the distance field from (x, y); the goal when near."""
        field = self._field
        i, j = self._nearest_free(np.isfinite(field), *self._cell_of(x, y))
        for _ in range(self.lookahead):
            if field[i, j] == 0.0:
                return self.goal
            i, j = min(
                ((i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)
                 if 0 <= i + di < field.shape[0] and 0 <= j + dj < field.shape[1]),
                key=lambda c: field[c],
            )  # fmt: skip
        return self._origin[0] + (i + 0.5) * self.cell, self._origin[1] + (j + 0.5) * self.cell


def route_walk(state: DoomState, waypoint: tuple[float, float], facing_error_deg: float) -> tuple[float, float]:
    """Left stick toward a waypoint: flat out when facing it, slowing while the view turns to it."""
    speed = max(math.cos(math.radians(min(abs(facing_error_deg), 90.0))), 0.3)
    return walk_stick(state, waypoint[0] - state.x, waypoint[1] - state.y, speed)


class Navigator(DoomPlayer):
    """Walk a RoutePlan to the goal item, looking where it goes."""

    goal_item = "GreenArmor"

    def on_reset(self) -> None:
        super().on_reset()
        self._route: RoutePlan | None = None

    def goal(self, state: DoomState) -> tuple[float, float] | None:
        goals = [o for o in state.objects if o.name == self.goal_item]
        return (goals[0].x, goals[0].y) if goals else None

    def plan(self, state: DoomState) -> Intent:
        goal = self.goal(state)
        if goal is None:
            return Intent()
        if self._route is None and state.walls:
            self._route = RoutePlan(state.walls, *goal)
        if self._route is None:
            return Intent()
        return self.walk_route(state, self._route)


class LandmarkRunner(Navigator):
    """Run a full map's route to a fixed landmark, as a player who knows the level does, tapping
    USE when the way is shut: the route plan sees through doors, which open on a press."""

    stuck_speed = 2.0  # map units per tic: slower than this while pushing means something is in the way
    # A tap, then hands off while the door rises (2 units/tic: 64 tics for 128 units): a second
    # press on a rising door sends it back down.
    use_cycle_frames = 72

    def on_reset(self) -> None:
        super().on_reset()
        self._last_xy: tuple[float, float] | None = None
        self._use_frames = 0  # frames of the current USE tap cycle, 0 = idle

    def goal(self, state: DoomState) -> tuple[float, float] | None:
        return LANDMARKS[self.task.option("doom_map")]

    def plan(self, state: DoomState) -> Intent:
        walk = super().plan(state)
        last, self._last_xy = self._last_xy, (state.x, state.y)
        stuck = last is not None and math.hypot(state.x - last[0], state.y - last[1]) < self.stuck_speed
        if self._use_frames or stuck:
            self._use_frames = (self._use_frames + 1) % self.use_cycle_frames
        use = 0 < self._use_frames <= TAP_PRESS_FRAMES
        return Intent.of(*([USE] if use else []), left=walk.left, right=walk.right)


def in_sight(walls: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    """No blocking wall (rows of x1, y1, x2, y2) crosses the segment from (x0, y0) to (x1, y1)."""
    if len(walls) == 0:
        return True
    ax, ay, bx, by = walls.T
    dx, dy = x1 - x0, y1 - y0
    ex, ey = bx - ax, by - ay
    denom = dx * ey - dy * ex
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((ax - x0) * ey - (ay - y0) * ex) / denom
        u = ((ax - x0) * dy - (ay - y0) * dx) / denom
    return not bool(np.any((denom != 0) & (t > 0) & (t < 1) & (u >= 0) & (u <= 1)))


class Hunter(Shooter):
    """Walk a full map's route to a landmark and shoot the first monster that comes into sight."""

    sight_range = 1024.0  # map units: pistol shots past this rarely hit

    def on_reset(self) -> None:
        super().on_reset()
        self._route: RoutePlan | None = None
        self._walls = np.zeros((0, 4))

    def choose(self, state: DoomState) -> DoomObject | None:
        seen = [
            o for o in live_monsters(state)
            if distance(state, o.x, o.y) < self.sight_range and in_sight(self._walls, state.x, state.y, o.x, o.y)
        ]  # fmt: skip
        return min(seen, key=lambda o: distance(state, o.x, o.y)) if seen else None

    def plan(self, state: DoomState) -> Intent:
        if self._route is None and state.walls:
            self._walls = np.array(state.walls, dtype=np.float64)
            self._route = RoutePlan(state.walls, *LANDMARKS[self.task.option("doom_map")])
        if self._route is None:
            return Intent()
        target = self.choose(state)
        if target is not None:
            return self.shoot_at(state, target)  # stand and shoot: a moving aim misses
        return self.walk_route(state, self._route)


class CorridorRunner(Shooter):
    """Run down the corridor (+x) keeping to its middle, shooting the gunmen still ahead."""

    def choose(self, state: DoomState) -> DoomObject | None:
        ahead = [o for o in live_monsters(state) if o.x > state.x - MONSTER_RADIUS]
        return min(ahead, key=lambda o: distance(state, o.x, o.y)) if ahead else None

    def plan(self, state: DoomState) -> Intent:
        shoot = super().plan(state)
        walk = walk_stick(state, 1.0, -state.y / 64.0)
        return Intent(shoot.buttons, walk, shoot.right)


class Pacer(DoomPlayer):
    """Run side to side along the back wall, turning just short of each side wall.

    The imps aim at where the player is when they throw; their fireballs fly slower than a
    runner, so a player who never stops is rarely where a fireball arrives.
    """

    wall_margin = 32.0  # map units kept from the side walls
    turn_distance = 48.0  # map units before the current end at which to head for the other

    def on_reset(self) -> None:
        super().on_reset()
        self._ends: tuple[float, float] | None = None
        self._goal: float | None = None
        self._last_y: float | None = None

    def plan(self, state: DoomState) -> Intent:
        if self._ends is None and state.walls:
            ys = [y for _, y1, _, y2 in state.walls for y in (y1, y2)]
            self._ends = (min(ys) + self.wall_margin, max(ys) - self.wall_margin)
        if self._ends is None:
            return Intent()
        lo, hi = self._ends
        if self._goal is None or abs(self._goal - state.y) < self.turn_distance:
            self._goal = hi if self._goal == lo else lo
        # Steer by where the thumb's lag and Doom's momentum will have carried the player.
        vy = 0.0 if self._last_y is None else state.y - self._last_y
        self._last_y = state.y
        push = self._goal - (state.y + vy * (len(self._pending_turn) + COAST_TICS))
        return Intent(left=walk_stick(state, 0.0, push, min(abs(push) / 64.0, 1.0)))


SCRIPTED: dict[str, type[ScriptedPlayer]] = {
    "doom_basic_first_shot": FirstShot,
    "doom_defend_center_kill5": Shooter,
    "doom_defend_line_shoot5": Shooter,
    "doom_predict_position_hit": LeadShot,
    "doom_my_way_home": Navigator,
    "doom_health_gathering_medkits": Gatherer,
    "doom_corridor_advance": CorridorRunner,
    "doom_defend_center_survive": Shooter,
    "doom_take_cover_survive": Pacer,
    "doom_health_gathering_survive": Gatherer,
    "freedoom_e1m1_advance": LandmarkRunner,
    "freedoom_map01_first_kill": Hunter,
}
