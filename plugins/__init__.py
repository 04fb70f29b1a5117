"""Built-in plugins: generic building blocks and one module per GAN."""
