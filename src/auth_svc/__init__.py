"""auth_svc: issues and verifies aigw's JWTs and publishes the keys that verify them."""
