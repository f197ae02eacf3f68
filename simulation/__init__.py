"""Virtual-time market simulation against adversarial rollers (simulation issue)."""
