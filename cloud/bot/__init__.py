"""The knowledge-base bot as a cloud service: the live index, ask/feedback, learning, handover, channels."""
