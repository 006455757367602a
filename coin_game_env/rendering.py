"""pygame drawing shared by the games: frames as uint8 RGB arrays, and a window.

Frames are drawn on off-screen surfaces, so ``rgb_array`` works without a
display (set ``SDL_VIDEODRIVER=dummy`` on headless machines); only
``render_mode="human"`` opens a window.
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

BACKGROUND = (245, 245, 240)
GRID = (60, 60, 60)
TEXT = (20, 20, 20)
RED = (215, 40, 40)
BLUE = (40, 90, 215)
HIGHLIGHT = (250, 210, 90)

_fonts: dict[int, pygame.font.Font] = {}


def font(size: int) -> pygame.font.Font:
    """pygame's bundled default font at ``size`` pixels (cached)."""
    if not pygame.font.get_init():
        pygame.font.init()
    if size not in _fonts:
        _fonts[size] = pygame.font.Font(None, size)
    return _fonts[size]


def surface_to_array(surface: pygame.Surface) -> np.ndarray:
    """uint8 ``[height, width, 3]`` copy of a surface."""
    return np.ascontiguousarray(np.transpose(pygame.surfarray.array3d(surface), (1, 0, 2)))


def draw_text(surface: pygame.Surface, text: str, pos: tuple[int, int], size: int = 22,
              color: tuple[int, int, int] = TEXT, center: bool = False) -> None:
    image = font(size).render(text, True, color)
    rect = image.get_rect(center=pos) if center else image.get_rect(topleft=pos)
    surface.blit(image, rect)


def draw_matrix_game(
    payoffs: np.ndarray,
    last_actions: np.ndarray,
    action_names: tuple[str, str],
    step: int,
    max_cycles: int,
    returns: np.ndarray,
    cell: int = 110,
) -> np.ndarray:
    """The 2x2 payoff table with the last joint action highlighted, step and returns.

    Rows are player_0's (red) actions, columns player_1's (blue).
    Returns uint8 ``[height, width, 3]``.
    """
    left, top = 110, 60
    width, height = left + 2 * cell + 20, top + 2 * cell + 80
    surface = pygame.Surface((width, height))
    surface.fill(BACKGROUND)
    for j in range(2):
        draw_text(surface, action_names[j], (left + j * cell + cell // 2, top - 15), 22, BLUE, True)
    for i in range(2):
        draw_text(surface, action_names[i], (left // 2, top + i * cell + cell // 2), 22, RED, True)
        for j in range(2):
            rect = pygame.Rect(left + j * cell, top + i * cell, cell, cell)
            if last_actions[0] == i and last_actions[1] == j:
                pygame.draw.rect(surface, HIGHLIGHT, rect)
            pygame.draw.rect(surface, GRID, rect, 2)
            cx, cy = rect.center
            draw_text(surface, f"{payoffs[i, j, 0]:g}", (cx - 20, cy), 26, RED, True)
            draw_text(surface, f"{payoffs[i, j, 1]:g}", (cx + 20, cy), 26, BLUE, True)
    base = top + 2 * cell + 10
    draw_text(surface, f"step {step}/{max_cycles}", (10, base), 22)
    draw_text(surface, f"player_0 {returns[0]:+.1f}", (10, base + 24), 22, RED)
    draw_text(surface, f"player_1 {returns[1]:+.1f}", (width // 2, base + 24), 22, BLUE)
    return surface_to_array(surface)


class PygameWindow:
    """A window that shows RGB frames at a fixed frame rate (render_mode="human")."""

    def __init__(self, title: str, fps: int) -> None:
        pygame.display.init()
        pygame.display.set_caption(title)
        self.fps = fps
        self.clock = pygame.time.Clock()
        self.screen: pygame.Surface | None = None

    def show(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if self.screen is None or self.screen.get_size() != (width, height):
            self.screen = pygame.display.set_mode((width, height))
        pygame.surfarray.blit_array(self.screen, np.transpose(frame, (1, 0, 2)))
        pygame.event.pump()
        pygame.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        pygame.display.quit()


COIN_RING = (240, 190, 40)
COIN_GAME_MARGIN = 20
COIN_GAME_FOOTER = 60


def coin_game_cell_size(grid_size: int) -> int:
    """Pixels per cell of a coin-game frame: about 360 px of board, 24..100 per cell."""
    return int(min(100, max(24, 360 // grid_size)))


def coin_game_cell_rect(grid_size: int, row: int, col: int) -> pygame.Rect:
    """Pixel rectangle of cell (row, col) in a frame drawn by :func:`draw_coin_game`."""
    size = coin_game_cell_size(grid_size)
    return pygame.Rect(COIN_GAME_MARGIN + col * size, COIN_GAME_MARGIN + row * size, size, size)


def draw_coin_game(
    grid_size: int,
    agents: list[tuple[int, int]],
    coins: list[tuple[int, int]],
    coin_colours: list[int],
    step: int,
    max_cycles: int,
    returns: np.ndarray,
) -> np.ndarray:
    """The coin-game board: grid, agents, coins, step counter and both scores.

    Args:
        grid_size: cells per side.
        agents: (row, col) of the red agent (player_0) and the blue agent (player_1).
        coins: (row, col) of each coin; ``coin_colours``: 0 red, 1 blue per coin.
        step, max_cycles: shown as "step t/max".
        returns: the episode's summed rewards ``[2]`` (red, blue).

    Agents are filled rounded squares in their colour; on a shared cell each
    takes one half (red left, blue right). Coins are smaller discs in their
    colour with a gold ring. Returns uint8 ``[height, width, 3]``.
    """
    size = coin_game_cell_size(grid_size)
    board = grid_size * size
    width = max(board + 2 * COIN_GAME_MARGIN, 300)
    height = board + COIN_GAME_MARGIN + COIN_GAME_FOOTER
    surface = pygame.Surface((width, height))
    surface.fill(BACKGROUND)
    for row in range(grid_size):
        for col in range(grid_size):
            pygame.draw.rect(surface, GRID, coin_game_cell_rect(grid_size, row, col), 1)
    colours = (RED, BLUE)
    for (row, col), colour in zip(coins, coin_colours, strict=True):
        centre = coin_game_cell_rect(grid_size, row, col).center
        pygame.draw.circle(surface, COIN_RING, centre, max(4, int(size * 0.24)))
        pygame.draw.circle(surface, colours[colour], centre, max(3, int(size * 0.18)))
    shared = agents[0] == agents[1]
    for agent, (row, col) in enumerate(agents):
        rect = coin_game_cell_rect(grid_size, row, col).inflate(-size // 5, -size // 5)
        if shared:  # halves: red left, blue right
            half = rect.width // 2
            rect = pygame.Rect(rect.left + agent * half, rect.top, half, rect.height)
        pygame.draw.rect(surface, colours[agent], rect, border_radius=max(2, size // 10))
    base = board + COIN_GAME_MARGIN + 8
    draw_text(surface, f"step {step}/{max_cycles}", (COIN_GAME_MARGIN, base), 22)
    draw_text(surface, f"red {returns[0]:+.0f}", (COIN_GAME_MARGIN, base + 24), 22, RED)
    draw_text(surface, f"blue {returns[1]:+.0f}", (width // 2, base + 24), 22, BLUE)
    return surface_to_array(surface)
