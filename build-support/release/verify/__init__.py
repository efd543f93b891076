"""What runs against what should: drift and the services' own metrics."""
