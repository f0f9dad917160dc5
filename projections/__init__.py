"""Read models built from the published events: rosters, rollups, history, audit trails."""
