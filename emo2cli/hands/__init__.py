"""Hand geometry: rotations, the 134-value model vector, skeletons, the rules generator."""
