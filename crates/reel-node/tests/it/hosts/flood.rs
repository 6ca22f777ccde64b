//! A hostile host floods an orchestrator while an honest stream from another host goes on.
