"""Scripted Atari players: each reads console RAM and decides what a person's thumbs would do.

They steer with the left stick (deflection proportional to the distance still to cover, so
paddles slow down as they arrive) and tap SOUTH to fire. The HumanizedGamepad between `decide`
and the console delays every intent by a reaction time and smooths the stick, so players that
chase a ball aim at where it will be, not where it is. `skill.aim_noise` scales each player's
own targeting error, drawn once per attempt from `self.rng`.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from padflow.players.base import ScriptedPlayer
from padflow.players.human import NEUTRAL, Intent
from padflow.sim.suite import atari as suite

FIRE = frozenset({"SOUTH"})
FIRE_TAP_FRAMES = 4  # a thumb tapping fire holds it this many frames, then lifts as long


def _fold(value: float, low: float, high: float) -> float:
    """Where a ball travelling freely to `value` ends up after bouncing between two walls."""
    span = high - low
    offset = (value - low) % (2 * span)
    return low + (offset if offset <= span else 2 * span - offset)


def _steer(error: float, full_at: float) -> float:
    """Stick deflection toward a target `error` units away, full at `full_at` units or more."""
    return float(np.clip(error / full_at, -1.0, 1.0))


def _tapping(frame: int) -> bool:
    """A repeated tap: fire held for FIRE_TAP_FRAMES, released for as long."""
    return frame % (2 * FIRE_TAP_FRAMES) < FIRE_TAP_FRAMES


class _PaddlePlayer(ScriptedPlayer):
    """Chases a ball with a fast paddle through a late thumb.

    Steering on the paddle it sees would overshoot every time, so the player counts the pushes it
    has already asked for but not yet seen take effect (over its own reaction time) and only asks
    for the rest. It remembers the ball's last position to read its velocity off two frames.
    """

    px_per_frame = 10.0  # paddle travel per frame with the stick fully pushed
    settled_px = 4.0  # close enough: the thumb lets the stick rest

    def on_reset(self) -> None:
        self._ball: tuple[int, int] | None = None
        self._aim_error = 0.0
        self._incoming = False
        lo, hi = self.skill.reaction_frames
        in_flight = (lo + hi) // 2 + 1
        self._pending: deque[float] = deque([0.0] * in_flight, maxlen=in_flight)

    def _velocity(self, x: int, y: int) -> tuple[int, int] | None:
        previous, self._ball = self._ball, (x, y)
        if previous is None:
            return None
        return x - previous[0], y - previous[1]

    def _push_toward(self, target: float, paddle: int, stick_sign: float) -> Intent:
        """Stick x that moves the paddle to `target`; stick_sign maps stick right to paddle units."""
        expected = paddle + stick_sign * self.px_per_frame * sum(self._pending)
        error = target - expected
        x = 0.0 if abs(error) < self.settled_px else stick_sign * _steer(error, self.px_per_frame)
        self._pending.append(x)
        return Intent(left=(x, 0.0))

    def _rest(self) -> None:
        self._pending.append(0.0)


# Pong geometry, in RAM units (measured from long rallies).
PONG_CONTACT_X = 188  # ball x when the player's paddle returns it
PONG_TOP, PONG_BOTTOM = 45, 206  # ball y where it bounces off the walls
PONG_CENTER_OFFSET = -5  # paddle y - ball y that meets the ball with the paddle's middle
PONG_EDGE_OFFSET = -8  # paddle y - ball y that meets it off-centre: an angled return the CPU misses
PONG_AIM_PX = 3.0  # targeting error (px) per unit of skill.aim_noise


class PongPlayer(_PaddlePlayer):
    """Meets the ball where it will cross the paddle's line, with the paddle part `offset` sets."""

    offset = PONG_CENTER_OFFSET

    def decide(self, state) -> Intent:
        ram = state.ram
        paddle_y = int(ram[suite.PONG_PLAYER_Y])
        ball_x, ball_y = int(ram[suite.PONG_BALL_X]), int(ram[suite.PONG_BALL_Y])
        if ball_y == 0:  # between points
            self._ball = None
            self._rest()
            return NEUTRAL
        velocity = self._velocity(ball_x, ball_y)
        target_y = float(ball_y)
        if velocity is not None and velocity[0] > 0:
            if not self._incoming:
                self._incoming = True
                self._aim_error = self.rng.normal(0.0, PONG_AIM_PX * self.skill.aim_noise)
            frames_to_contact = (PONG_CONTACT_X - ball_x) / velocity[0]
            target_y = _fold(ball_y + velocity[1] * frames_to_contact, PONG_TOP, PONG_BOTTOM)
        elif velocity is not None:
            self._incoming = False
        # Stick right raises the paddle (smaller y).
        return self._push_toward(target_y + self.offset + self._aim_error, paddle_y, -1.0)


class PongScorePlayer(PongPlayer):
    """Returns with the paddle's edge, sending the ball back steep enough to beat the CPU."""

    offset = PONG_EDGE_OFFSET


# Breakout geometry, in RAM units.
BREAKOUT_CONTACT_Y = 176  # ball y when it meets the paddle
BREAKOUT_LEFT, BREAKOUT_RIGHT = 56, 200  # ball x where it bounces off the side walls
BREAKOUT_PADDLE_CENTER = 8  # ball x - paddle x when the ball meets the paddle's middle
BREAKOUT_AIM_PX = 3.0


class BreakoutPlayer(_PaddlePlayer):
    """Serves with fire, then keeps the paddle under where the falling ball will land."""

    def decide(self, state) -> Intent:
        ram = state.ram
        paddle_x = int(ram[suite.BREAKOUT_PADDLE_X])
        ball_x, ball_y = int(ram[suite.BREAKOUT_BALL_X]), int(ram[suite.BREAKOUT_BALL_Y])
        if ball_y == 0:  # no ball in play: tap fire to serve one
            self._ball = None
            self._rest()
            return Intent(FIRE) if _tapping(state.frame) else NEUTRAL
        velocity = self._velocity(ball_x, ball_y)
        target_x = float(ball_x)
        if velocity is not None and velocity[1] > 0:
            if not self._incoming:
                self._incoming = True
                self._aim_error = self.rng.normal(0.0, BREAKOUT_AIM_PX * self.skill.aim_noise)
            frames_to_contact = max(0.0, (BREAKOUT_CONTACT_Y - ball_y) / velocity[1])
            target_x = _fold(ball_x + velocity[0] * frames_to_contact, BREAKOUT_LEFT, BREAKOUT_RIGHT)
        elif velocity is not None:
            self._incoming = False
        return self._push_toward(target_x - BREAKOUT_PADDLE_CENTER + self._aim_error, paddle_x, 1.0)


# Boxing: where punches land, relative to the opponent (RAM units, measured by a grid of tries).
BOXING_PUNCH_DX = 14  # horizontal gap for a close power punch
BOXING_PUNCH_DY = 10  # vertical offset: level boxers block, one a little off-line lands punches
BOXING_SWITCH_SIDE_S = 2.0  # seconds between moving from above the opponent's line to below
BOXING_FULL_STICK_AT = 8
BOXING_AIM_PX = 3.0
BOXING_PUNCH_WINDOW = (6, 10)  # |dx error|, |dy error| within which the player throws punches


class BoxingPlayer(ScriptedPlayer):
    """Closes to punching range just off the opponent's line and throws punches once there."""

    def on_reset(self) -> None:
        self._aim = (0.0, 0.0)

    def decide(self, state) -> Intent:
        ram = state.ram
        px, py = int(ram[suite.BOXING_PLAYER_X]), int(ram[suite.BOXING_PLAYER_Y])
        cx, cy = int(ram[suite.BOXING_CPU_X]), int(ram[suite.BOXING_CPU_Y])
        if state.frame % self.fps == 0:  # a person re-judges the distance about once a second
            spread = BOXING_AIM_PX * self.skill.aim_noise
            self._aim = (self.rng.normal(0.0, spread), self.rng.normal(0.0, spread))
        side = 1 if cx >= px else -1
        above = 1 if (state.frame // int(BOXING_SWITCH_SIDE_S * self.fps)) % 2 == 0 else -1
        dx = cx - side * BOXING_PUNCH_DX + self._aim[0] - px
        dy = cy - above * BOXING_PUNCH_DY + self._aim[1] - py
        stick = (_steer(dx, BOXING_FULL_STICK_AT), -_steer(dy, BOXING_FULL_STICK_AT))
        in_range = abs(dx) < BOXING_PUNCH_WINDOW[0] and abs(dy) < BOXING_PUNCH_WINDOW[1]
        return Intent(FIRE if in_range and _tapping(state.frame) else frozenset(), left=stick)


# Seaquest
SEAQUEST_LANE_DEPTHS = (46, 58, 70, 82)  # sub y at which its torpedoes run through each enemy lane
SEAQUEST_SWEEP_X = (30, 120)  # the sub patrols between these x, turning to face the way it goes
SEAQUEST_FULL_STICK_AT = 10
SEAQUEST_AIM_PX = 3.0


class SeaquestPlayer(ScriptedPlayer):
    """Patrols one enemy lane at a time, left and right, firing ahead; changes lane each pass."""

    def on_reset(self) -> None:
        self._lane = int(self.rng.integers(0, len(SEAQUEST_LANE_DEPTHS)))
        self._end = int(self.rng.integers(0, 2))
        self._depth_error = 0.0

    def decide(self, state) -> Intent:
        ram = state.ram
        x, y = int(ram[suite.SEAQUEST_PLAYER_X]), int(ram[suite.SEAQUEST_PLAYER_Y])
        target_x = SEAQUEST_SWEEP_X[self._end]
        if abs(target_x - x) < SEAQUEST_FULL_STICK_AT:
            self._end = 1 - self._end
            self._lane = int(self.rng.integers(0, len(SEAQUEST_LANE_DEPTHS)))
            self._depth_error = self.rng.normal(0.0, SEAQUEST_AIM_PX * self.skill.aim_noise)
        depth = SEAQUEST_LANE_DEPTHS[self._lane] + self._depth_error
        stick = (_steer(target_x - x, SEAQUEST_FULL_STICK_AT), -_steer(depth - y, SEAQUEST_FULL_STICK_AT))
        return Intent(FIRE if _tapping(state.frame) else frozenset(), left=stick)


ROAD_RUNNER_WEAVE = 0.8  # stick deflection up or down while weaving across the road


class RoadRunnerPlayer(ScriptedPlayer):
    """Runs left, away from the coyote, weaving up and down across the road for the seed piles."""

    def on_reset(self) -> None:
        self._vertical = 0.0

    def decide(self, state) -> Intent:
        if state.frame % self.fps == 0:  # a new line across the road about once a second
            self._vertical = float(self.rng.choice((-ROAD_RUNNER_WEAVE, 0.0, ROAD_RUNNER_WEAVE)))
        return Intent(left=(-1.0, self._vertical))


class FreewayPlayer(ScriptedPlayer):
    """Walks the chicken up the road."""

    def decide(self, state) -> Intent:
        return Intent(left=(0.0, 1.0))


# Ms. Pac-Man
PACMAN_DIRECTIONS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))  # right, up, left, down
PACMAN_TURN_EVERY_S = 1.5  # mean seconds between voluntary turns at whatever junction comes
PACMAN_DANGER_PX = 14  # a ghost this close ahead makes the player turn back
PACMAN_STUCK_FRAMES = 3  # frames without moving that mean the heading runs into a wall


class MsPacmanPlayer(ScriptedPlayer):
    """Roams the maze: keeps a heading, tries a new one when stuck or now and then, flees ghosts."""

    def on_reset(self) -> None:
        self._heading = int(self.rng.integers(0, 4))
        self._last_position: tuple[int, int] | None = None
        self._still = 0

    def decide(self, state) -> Intent:
        ram = state.ram
        position = (int(ram[suite.PACMAN_PLAYER_X]), int(ram[suite.PACMAN_PLAYER_Y]))
        self._still = self._still + 1 if position == self._last_position else 0
        self._last_position = position
        turn_p = 1.0 / (PACMAN_TURN_EVERY_S * self.fps)
        if self._still >= PACMAN_STUCK_FRAMES or self.rng.random() < turn_p:
            self._heading = (self._heading + int(self.rng.choice((1, 3)))) % 4
            self._still = 0
        hx, hy = PACMAN_DIRECTIONS[self._heading]
        for ghost in zip(suite.PACMAN_GHOSTS_X, suite.PACMAN_GHOSTS_Y):
            dx, dy = int(ram[ghost[0]]) - position[0], int(ram[ghost[1]]) - position[1]
            ahead = dx * hx - dy * hy > 0  # RAM y grows downward, stick y upward
            if ahead and abs(dx) + abs(dy) < PACMAN_DANGER_PX:
                self._heading = (self._heading + 2) % 4
                hx, hy = PACMAN_DIRECTIONS[self._heading]
                break
        return Intent(left=(hx, hy))


SCRIPTED: dict[str, type[ScriptedPlayer]] = {
    "boxing_score_10": BoxingPlayer,
    "boxing_score_15": BoxingPlayer,
    "seaquest_sink_5": SeaquestPlayer,
    "seaquest_sink_8": SeaquestPlayer,
    "road_runner_eat_4_seeds": RoadRunnerPlayer,
    "freeway_cross_once": FreewayPlayer,
    "freeway_cross_three": FreewayPlayer,
    "ms_pacman_eat_30_dots": MsPacmanPlayer,
    "ms_pacman_eat_40_dots": MsPacmanPlayer,
    "pong_score_point": PongScorePlayer,
    "pong_hold_15s": PongPlayer,
    "breakout_break_5_bricks": BreakoutPlayer,
    "breakout_break_12_bricks": BreakoutPlayer,
}
