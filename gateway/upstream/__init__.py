"""Transport to the student and teacher servers: pooled clients and their errors."""
