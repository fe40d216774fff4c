import { LabIcon } from '@jupyterlab/ui-components';

import trackSvg from '../style/icons/tramway.svg';

/** Particle tracks: the sidebar tab's icon (themed through jp-icon3). */
export const tramwayIcon = new LabIcon({
  name: 'tramway-jupyter:tracks',
  svgstr: trackSvg
});
