"""Domain-adaptation methods: one file each, all behind :class:`dasuite.methods.base.Method`."""
