"""The kernel: spec → registry → graph → plan → engine. It knows no particular GAN and
imports nothing from the layers above it (training, evaluation, components, tools)."""
