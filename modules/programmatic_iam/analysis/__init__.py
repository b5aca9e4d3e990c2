"""What a configuration allows and needs, worked out without cdktf: the deploying identity's grants."""
