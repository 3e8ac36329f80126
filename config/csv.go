package config

func (c *Config) loadPointsCSV(read func(string) ([]byte, error)) Errors {
	if len(c.PointsCSV) == 0 {
		return nil
	}
	return Errors{c.pos.errorAt(c.File, "points_csv", "points_csv is not supported in this version")}
}
