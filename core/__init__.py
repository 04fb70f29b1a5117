"""The engine: spec → registry → graph → phases → steps. It knows no particular GAN."""
