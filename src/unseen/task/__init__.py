"""The task process: one component run for one role in its own process (``process``), started cold or forked
from a warm ``zygote``. Above ``components`` (it looks the component up by name) and below ``node`` (which
starts it)."""
