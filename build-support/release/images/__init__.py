"""Images: built with Pants on the base image, pushed to a registry, published."""
