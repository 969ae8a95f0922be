"""What serves the project but is not the product: benchmarks, evaluation, and the
local stand-ins (a Bot API stand-in, throwaway PostgreSQL and Redis) that the
tests and the benchmarks share. Nothing in bot/ imports from here."""
