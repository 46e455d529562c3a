"""Hand maps: placement on a portrait, projection, rasterisation (DESIGN §2 "Hand maps")."""
