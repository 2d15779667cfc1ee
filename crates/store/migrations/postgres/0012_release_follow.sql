-- Every server's search index follows the releases made through any server by release time.
CREATE INDEX intel_reports_by_release ON intel_reports(released_at) WHERE state = 'released';
