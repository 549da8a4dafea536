"""Atari 2600 tasks: each one a short goal in an ale-py game, judged from console RAM and score.

RAM addresses are indices into ale-py's 128-byte `getRAM()` (bus address - 0x80). Names follow
the AtariARI annotated RAM tables (Anand et al., 2019) where those cover a game; every address
below was checked here by moving the player and watching the byte (tests/sim/engines/
test_atari.py keeps the ones the mapping relies on honest). Scores some games keep in
binary-coded decimal are read with `bcd`.
"""

from __future__ import annotations

from padflow.sim.engines.atari import FPS
from padflow.sim.task import Task

# Pong: the player is the right-hand (green) paddle.
PONG_CPU_SCORE = 13
PONG_PLAYER_SCORE = 14
PONG_BALL_X = 49  # grows toward the player; 0 while no ball is in play
PONG_PLAYER_Y = 51  # paddle top, grows downward; stick right moves the paddle up
PONG_BALL_Y = 54  # grows downward; 0 while no ball is in play

# Breakout
BREAKOUT_PADDLE_X = 72  # grows rightward; stick right moves the paddle right
BREAKOUT_BRICKS_HIT = 77  # bricks broken this game, BCD
BREAKOUT_BALL_X = 99
BREAKOUT_BALL_Y = 101  # grows downward; 0 while no ball is in play

# Boxing: the player is the white boxer.
BOXING_PLAYER_SCORE = 18
BOXING_CPU_SCORE = 19
BOXING_PLAYER_X = 32
BOXING_CPU_X = 33
BOXING_PLAYER_Y = 34  # grows downward; stick up moves the boxer up
BOXING_CPU_Y = 35

# Freeway: the player is the left chicken.
FREEWAY_CHICKEN_Y = 14  # 6 on the kerb, grows as the chicken walks up the road
FREEWAY_SCORE = 103  # roads crossed, BCD

# Seaquest
SEAQUEST_PLAYER_X = 70
SEAQUEST_PLAYER_Y = 97  # 13 at the surface, grows with depth

# Road Runner: judged on ALE's reward (game points; a pile of birdseed is worth 100).

# Ms. Pac-Man
PACMAN_GHOSTS_X = range(6, 10)
PACMAN_PLAYER_X = 10
PACMAN_GHOSTS_Y = range(12, 16)
PACMAN_PLAYER_Y = 16
PACMAN_DOTS_EATEN = 119  # dots eaten this level


def bcd(byte: int) -> int:
    """A binary-coded-decimal byte (0x42 → 42) as an int."""
    return (int(byte) >> 4) * 10 + (int(byte) & 0x0F)


def _gained(addr: int, amount: int, decimal: bool = False):
    def predicate(start, now) -> bool:
        read = bcd if decimal else int
        return read(now.ram[addr]) - read(start.ram[addr]) >= amount

    return predicate


def _score_at_least(points: float):
    def predicate(start, now) -> bool:
        return now.score - start.score >= points

    return predicate


def _pong_hold(seconds: float):
    frames = int(round(seconds * FPS))

    def predicate(start, now) -> bool:
        return now.frame >= frames and now.ram[PONG_CPU_SCORE] == start.ram[PONG_CPU_SCORE]

    return predicate


TASKS: tuple[Task, ...] = (
    Task("boxing_score_10", "boxing", "atari", "boxing", "combat", "2D", 30.0,
         "Boxing: land punches worth 10 points.",
         _gained(BOXING_PLAYER_SCORE, 10, decimal=True)),
    Task("boxing_score_15", "boxing", "atari", "boxing", "combat", "2D", 45.0,
         "Boxing: land punches worth 15 points before the time runs out.",
         _gained(BOXING_PLAYER_SCORE, 15, decimal=True)),
    Task("seaquest_sink_5", "seaquest", "atari", "seaquest", "combat", "2D", 30.0,
         "Seaquest: torpedo 5 sharks or enemy subs (100 points).",
         _score_at_least(100.0)),
    Task("seaquest_sink_8", "seaquest", "atari", "seaquest", "combat", "2D", 60.0,
         "Seaquest: torpedo 8 sharks or enemy subs (160 points).",
         _score_at_least(160.0)),
    Task("freeway_cross_once", "freeway", "atari", "freeway", "navigation", "2D", 15.0,
         "Freeway: get the chicken across the road once.",
         _gained(FREEWAY_SCORE, 1, decimal=True)),
    Task("freeway_cross_three", "freeway", "atari", "freeway", "navigation", "2D", 40.0,
         "Freeway: get the chicken across the road three times.",
         _gained(FREEWAY_SCORE, 3, decimal=True)),
    Task("road_runner_eat_4_seeds", "road_runner", "atari", "road_runner", "navigation", "2D", 30.0,
         "Road Runner: outrun the coyote and score 400 points (4 birdseed piles).",
         _score_at_least(400.0)),
    Task("ms_pacman_eat_30_dots", "ms_pacman", "atari", "ms_pacman", "navigation", "2D", 30.0,
         "Ms. Pac-Man: eat 30 dots.",
         _gained(PACMAN_DOTS_EATEN, 30)),
    Task("ms_pacman_eat_40_dots", "ms_pacman", "atari", "ms_pacman", "navigation", "2D", 60.0,
         "Ms. Pac-Man: eat 40 dots.",
         _gained(PACMAN_DOTS_EATEN, 40)),
    Task("pong_score_point", "pong", "atari", "pong", "game-specific", "2D", 45.0,
         "Pong: get the ball past the CPU paddle once.",
         _gained(PONG_PLAYER_SCORE, 1)),
    Task("pong_hold_15s", "pong", "atari", "pong", "game-specific", "2D", 20.0,
         "Pong: keep the CPU from scoring for 15 seconds.",
         _pong_hold(15.0)),
    Task("breakout_break_5_bricks", "breakout", "atari", "breakout", "game-specific", "2D", 30.0,
         "Breakout: serve and break 5 bricks.",
         _gained(BREAKOUT_BRICKS_HIT, 5, decimal=True)),
    Task("breakout_break_12_bricks", "breakout", "atari", "breakout", "game-specific", "2D", 60.0,
         "Breakout: serve and break 12 bricks.",
         _gained(BREAKOUT_BRICKS_HIT, 12, decimal=True)),
)  # fmt: skip
