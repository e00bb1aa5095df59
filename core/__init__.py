"""The bottom layer: what every other layer may use, and which uses none of them."""
