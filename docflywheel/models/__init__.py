"""docflywheel."""
