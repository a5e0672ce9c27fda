"""Local fake AWS ECS control plane (ECS JSON API, ACS websocket, IMDS) for end-to-end tests."""
__version__ = "0.1.0"
