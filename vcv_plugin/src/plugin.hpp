#pragma once
// The NeuroRave plugin: one module, a thin adapter over neurorave::ModuleVoice.

#include <rack.hpp>

extern rack::Plugin* pluginInstance;
extern rack::Model* modelNeuroRave;
