"""Text contrast in both themes is at least 4.5:1 (WCAG AA), computed from the colours the shell really uses."""

from __future__ import annotations

import re

import pytest

from app.shell import BRAND, CSS, DARK_BACKGROUNDS

WHITE = '#ffffff'


def luminance(hex_color: str) -> float:
    channels = [int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def dark_text_colours() -> dict[str, str]:
    """`.body--dark .text-x { color: #… }` overrides in the shell's CSS."""
    return dict(re.findall(r'\.body--dark \.text-([\w-]+) \{ color: (#[0-9a-f]{6})', CSS))


@pytest.mark.parametrize('name', sorted(BRAND))
def test_white_text_on_every_brand_colour_is_readable(name: str):
    assert contrast(WHITE, BRAND[name]) >= 4.5, f'white on {name} {BRAND[name]}: {contrast(WHITE, BRAND[name]):.2f}'


def test_coloured_and_grey_text_is_readable_on_every_dark_background():
    colours = dark_text_colours()
    assert {'primary', 'positive', 'negative', 'info', 'warning', 'gray-500'} <= set(colours)
    for name, colour in colours.items():
        for background in DARK_BACKGROUNDS:
            assert contrast(colour, background) >= 4.5, f'{name} {colour} on {background}'


def test_brand_text_and_grey_text_are_readable_on_white():
    for name, colour in {**BRAND, 'gray-500': '#6b7280', 'gray-400 (light theme)': '#6b7280'}.items():
        assert contrast(colour, WHITE) >= 4.5, f'{name} {colour} on white'


def test_the_angular_orange_was_not():
    assert contrast(WHITE, '#f97316') < 3, 'the measure must be able to fail'
