"""fastgd: fast, reference-checked gradient descent on the CPU."""
