"""Test support: configs and synthesis, Terraform with the provider mirror, access keys on the emulator."""
