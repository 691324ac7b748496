"""Package metadata is read from settings.ini (nbdev 2 convention): edit it there, not here."""
import re
from configparser import ConfigParser
import setuptools

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.9 3.10 3.11 3.12 3.13'.split()
lic = licenses[cfg['license'].lower()]

def reqs(key): return cfg.get(key, '').split()

def long_description():
    "README.md with its relative links (chapters, figures) made absolute: a package index shows them outside the repository."
    text = open('README.md', encoding='utf-8').read()
    repo = cfg['git_url'].rstrip('/')
    raw = repo.replace('https://github.com/', 'https://raw.githubusercontent.com/') + '/' + cfg['branch'] + '/'
    text = re.sub(r'(!\[[^\]]*\]\()(?!https?://)([^)]+\))', lambda m: m.group(1) + raw + m.group(2), text)      # images
    return re.sub(r'((?<!!)\[[^\]]*\]\()(?![a-z]+://|#)([^)]+\))', lambda m: m.group(1) + repo + '/blob/' + cfg['branch'] + '/' + m.group(2), text)

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status']) - 1],       # status = 3 is '3 - Alpha'
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'License :: ' + lic[1]]
                + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(cfg['min_python']):]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    install_requires=reqs('requirements'),
    extras_require={'dev': reqs('dev_requirements'),
                    'widgets': reqs('widgets_requirements'),
                    'real': reqs('real_requirements'),
                    'distributed': reqs('distributed_requirements')},
    python_requires='>=' + cfg['min_python'],
    long_description=long_description(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
