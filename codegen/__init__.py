"""From declarations to code: kernels, printers, templates, the kinds table and emission."""
