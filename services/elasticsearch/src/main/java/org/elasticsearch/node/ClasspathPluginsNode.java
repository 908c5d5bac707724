/*
 * tokenhawk: a production Node whose plugins are classes on the classpath.
 *
 * Uses the same construction path as org.elasticsearch.node.Node(Environment, PluginsLoader)
 * (NodeConstruction.prepareConstruction with the default NodeServiceProvider, forbidding private
 * index settings), only swapping the PluginsService. No test-framework classes are involved.
 * Placed in org.elasticsearch.node because prepareConstruction and NodeServiceProvider are
 * package-private.
 */
package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.List;

public class ClasspathPluginsNode extends Node {

    public ClasspathPluginsNode(Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new ClasspathPluginsService(env.settings(), env, List.copyOf(pluginClasses));
            }
        }, true));
    }
}
