"""Tools for developing and demonstrating: real Terraform and a local AWS emulator (moto)."""
