"""Central office: collector, fusion, event store, classification and forecast hosting."""
