"""The use cases of engine.service.Chamados, one concern per module."""
