package stdout

// Config is the stdout action's settings: it has no keys of its own, so any
// key besides name, type, enable and runs-on is an error.
type Config struct{}
